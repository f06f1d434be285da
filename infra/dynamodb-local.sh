#!/usr/bin/env bash
# Fetches the official DynamoDB Local from Maven Central into a cache directory, once, and
# prints that directory. Later runs reuse it without network access.
#
#   infra/dynamodb-local.sh            # -> ${BILLING_CACHE_DIR:-$HOME/.cache/billing}/dynamodb-local
#
# Layout of the cache: lib/ (the jars), native/ (sqlite4java native library), .complete.
set -euo pipefail

readonly DYNAMODB_LOCAL_VERSION="3.1.0"
readonly CACHE_DIR="${BILLING_CACHE_DIR:-$HOME/.cache/billing}/dynamodb-local"
readonly TARGET_DIR="$CACHE_DIR/$DYNAMODB_LOCAL_VERSION"

die() { echo "dynamodb-local: $*" >&2; exit 1; }

# java runs DynamoDB Local; mvn is needed only to fetch it the first time.
require_tools() {
  local missing=() packages=()
  if ! command -v java >/dev/null 2>&1; then
    missing+=(java) packages+=(openjdk-17-jre-headless)
  fi
  if [[ ! -f "$TARGET_DIR/.complete" ]] && ! command -v mvn >/dev/null 2>&1; then
    missing+=(mvn) packages+=(maven)
  fi
  if ((${#missing[@]} > 0)); then
    die "${missing[*]} not found; install with: apt-get install ${packages[*]}"
  fi
}

fetch() {
  local work
  work="$(mktemp -d "${TMPDIR:-/tmp}/dynamodb-local-fetch.XXXXXX")"
  # shellcheck disable=SC2064 # expand now: the variable is local
  trap "rm -rf '$work'" RETURN
  # A throwaway project whose only purpose is to let Maven resolve DynamoDB Local and its
  # dependencies (sqlite4java and its native libraries among them).
  cat >"$work/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>billing.local</groupId>
  <artifactId>dynamodb-local-fetch</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>software.amazon.dynamodb</groupId>
      <artifactId>DynamoDBLocal</artifactId>
      <version>${DYNAMODB_LOCAL_VERSION}</version>
    </dependency>
  </dependencies>
</project>
POM
  echo "dynamodb-local: fetching DynamoDBLocal ${DYNAMODB_LOCAL_VERSION} from Maven Central" >&2
  rm -rf "$TARGET_DIR"
  mkdir -p "$TARGET_DIR/native"
  (cd "$work" && mvn -q -B -Dstyle.color=never dependency:copy-dependencies -DoutputDirectory="$TARGET_DIR/lib") >&2 \
    || die "mvn could not fetch DynamoDBLocal ${DYNAMODB_LOCAL_VERSION} (is Maven Central reachable?)"

  # sqlite4java loads its native library by a name without the version suffix Maven gives it.
  local native
  native="$(find "$TARGET_DIR/lib" -name 'libsqlite4java-linux-amd64-*.so' | head -n 1)"
  [[ -n "$native" ]] || die "no libsqlite4java-linux-amd64 library among the fetched jars"
  cp "$native" "$TARGET_DIR/native/libsqlite4java-linux-amd64.so"
  touch "$TARGET_DIR/.complete"
}

require_tools
[[ -f "$TARGET_DIR/.complete" ]] || fetch
echo "$TARGET_DIR"
