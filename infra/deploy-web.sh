#!/usr/bin/env bash
# Builds the admin UI (web/) and publishes it to the stack's bucket behind CloudFront:
#
#   infra/deploy-web.sh [STACK_NAME]      # default: billing (samconfig.toml's stack_name)
#
# Needs the AWS CLI with credentials for the stack's account, Node.js 20 + npm. Hashed assets
# are uploaded first with a year of caching, then index.html (never cached), then files no
# longer built are deleted and CloudFront is told to drop its copy of index.html, so a visitor
# never gets an index.html that names assets not uploaded yet.
set -euo pipefail

stack="${1:-billing}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

die() { echo "deploy-web: $*" >&2; exit 1; }

command -v aws >/dev/null 2>&1 || die "the AWS CLI is not installed (https://docs.aws.amazon.com/cli/)"
[[ -f "$root/web/package.json" ]] || die "web/ has no package.json yet: there is no UI to deploy"
command -v npm >/dev/null 2>&1 || die "npm not found: install Node.js 20"

output() {
  aws cloudformation describe-stacks --stack-name "$stack" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}
bucket="$(output WebBucketName)"
distribution="$(output DistributionId)"
url="$(output AdminUiUrl)"
[[ -n "$bucket" && "$bucket" != "None" ]] || die "stack $stack has no WebBucketName output (deployed with sam deploy?)"

echo "deploy-web: building web/" >&2
(cd "$root/web" && npm ci && npm run build)
dist="$root/web/dist"
[[ -f "$dist/index.html" ]] || die "the build left no web/dist/index.html"

echo "deploy-web: uploading to s3://$bucket" >&2
aws s3 sync "$dist" "s3://$bucket" --exclude index.html \
  --cache-control "public, max-age=31536000, immutable"
aws s3 cp "$dist/index.html" "s3://$bucket/index.html" \
  --cache-control "no-cache" --content-type "text/html; charset=utf-8"
aws s3 sync "$dist" "s3://$bucket" --delete --exclude index.html \
  --cache-control "public, max-age=31536000, immutable"

echo "deploy-web: invalidating CloudFront $distribution" >&2
aws cloudfront create-invalidation --distribution-id "$distribution" --paths "/index.html" "/" >/dev/null
echo "deploy-web: the admin UI is at $url" >&2
