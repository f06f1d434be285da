//! Prints the table definition as the `Properties` of a CloudFormation `AWS::DynamoDB::Table`,
//! so a check of `template.yaml` can compare the template against the schema in code.

fn main() -> Result<(), String> {
    let properties = billing_store::schema::cloudformation_properties();
    let json = serde_json::to_string_pretty(&properties)
        .map_err(|error| format!("cannot render the schema: {error}"))?;
    println!("{json}");
    Ok(())
}
