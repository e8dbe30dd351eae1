use super::schema::ID_PATTERN;
use super::*;
use actix_web::body::MessageBody;
use actix_web::ResponseError;
use proptest::prelude::*;
use serde_json::Value;
use utoipa::PartialSchema;

fn message(e: ApiError) -> String {
    match e {
        ApiError::BadRequest(m) => m,
        other => panic!("expected a 400, got {other:?}"),
    }
}

#[test]
fn amounts_accept_plain_digits_up_to_i64_max() {
    assert_eq!(Amount::parse("amount", "0").unwrap().get(), 0);
    assert_eq!(Amount::parse("amount", "007").unwrap().get(), 7);
    assert_eq!(
        Amount::parse("amount", "9223372036854775807")
            .unwrap()
            .get(),
        i64::MAX
    );
}

#[test]
fn amounts_refuse_signs_fractions_and_overflow() {
    for raw in [
        "-3",
        "+3",
        "5.83",
        "1e3",
        " 1",
        "",
        "abc",
        "9223372036854775808",
    ] {
        let msg = message(Amount::parse("amount", raw).unwrap_err());
        assert!(msg.starts_with("amount "), "{msg}");
        assert!(msg.contains(&format!("{raw:?}")), "{msg}");
    }
}

#[test]
fn quantities_must_be_positive() {
    assert!(Quantity::parse("quantity", "0").is_err());
    assert_eq!(Quantity::parse("quantity", "3").unwrap().get(), 3);
    assert!(Quantity::parse_at_most("n", "11", 10).is_err());
}

#[test]
fn ids_refuse_separators_and_empty() {
    for raw in ["", "a|b", "a:b", "a b", "a;b", &"x".repeat(65)] {
        assert!(Id::parse("item_id", raw).is_err(), "{raw}");
    }
    assert_eq!(Id::parse("item_id", "0").unwrap().as_str(), "0");
}

#[test]
fn batch_sizes_are_bounded() {
    assert_eq!(
        BatchSize::parse("n", "10000000").unwrap().get(),
        BatchSize::MAX
    );
    assert!(BatchSize::parse("n", "10000001").is_err());
    assert!(BatchSize::parse("n", "0").is_err());
}

#[test]
fn the_id_schema_states_the_parsers_rules() {
    let schema = json_schema::<Id>();
    assert_eq!(schema["type"], "string");
    assert_eq!(schema["pattern"], ID_PATTERN);
    assert_eq!(schema["minLength"], 1);
    assert_eq!(schema["maxLength"], MAX_ID_LEN);
}

/// The JSON form of a parameter type's schema, as the API document shows it.
fn json_schema<T: PartialSchema>() -> Value {
    serde_json::to_value(T::schema()).expect("a schema serializes")
}

/// Whether a path segment is a value the documented `schema` allows. An integer
/// travels in a path as plain decimal digits; a string must satisfy length and pattern.
fn schema_accepts(schema: &Value, raw: &str) -> bool {
    match schema["type"].as_str() {
        Some("integer") => {
            let (min, max) = (schema["minimum"].as_i64(), schema["maximum"].as_i64());
            let (min, max) = (min.expect("a minimum"), max.expect("a maximum"));
            // Digits only; i128 holds every value up to 38 digits, longer ones are too big anyway.
            !raw.is_empty()
                && raw.bytes().all(|b| b.is_ascii_digit())
                && match raw.trim_start_matches('0') {
                    "" => min <= 0,
                    digits if digits.len() > 38 => false,
                    digits => {
                        let v: i128 = digits.parse().expect("digits");
                        i128::from(min) <= v && v <= i128::from(max)
                    }
                }
        }
        Some("string") => {
            let len = raw.chars().count() as u64;
            let pattern = regex::Regex::new(schema["pattern"].as_str().expect("a pattern"))
                .expect("the pattern compiles");
            schema["minLength"].as_u64().is_none_or(|m| len >= m)
                && schema["maxLength"].as_u64().is_none_or(|m| len <= m)
                && pattern.is_match(raw)
        }
        other => panic!("unexpected schema type {other:?}"),
    }
}

/// A refusal is a 4xx whose JSON body names the parameter and quotes the value.
fn check_refusal(e: ApiError, name: &str, raw: &str) -> Result<(), TestCaseError> {
    prop_assert!(e.status_code().is_client_error(), "{e:?} is not a 4xx");
    let body = e.error_response().into_body().try_into_bytes().ok();
    let body: Value = serde_json::from_slice(&body.expect("a sized body")).expect("a JSON body");
    let msg = body["error"].as_str().unwrap_or_default();
    prop_assert!(
        msg.starts_with(&format!("{name} ")),
        "{msg} does not name {name}"
    );
    prop_assert!(
        msg.contains(&format!("{raw:?}")),
        "{msg} does not quote {raw:?}"
    );
    Ok(())
}

/// Checks the whole property for one parser: a value the schema allows parses
/// to exactly that value; anything else is a 4xx naming the parameter.
fn check_parser<T: PartialSchema>(
    name: &str,
    raw: &str,
    parsed: Result<String, ApiError>,
) -> Result<(), TestCaseError> {
    let schema = json_schema::<T>();
    let accepted = schema_accepts(&schema, raw);
    match parsed {
        Ok(value) => {
            prop_assert!(accepted, "{name}: parsed {raw:?} that the schema refuses");
            // An integer is its digits without leading zeros; an id is the string itself.
            let expected = match (schema["type"].as_str(), raw.trim_start_matches('0')) {
                (Some("integer"), "") => "0",
                (Some("integer"), digits) => digits,
                _ => raw,
            };
            prop_assert_eq!(value, expected);
            Ok(())
        }
        Err(e) => {
            prop_assert!(
                !accepted,
                "{name}: refused {raw:?} that the schema allows: {e}"
            );
            check_refusal(e, name, raw)
        }
    }
}

/// Strings of every kind a caller (or a fuzzer) may put in a path segment.
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        ".*",
        "[0-9]{1,22}",
        "[+-]?[0-9]{1,20}([.,eE][0-9]{0,3})?",
        "[ \t]?[0-9]{1,5}[ \t]?",
        "[A-Za-z0-9_-]{0,70}",
        "[A-Za-z0-9_./%|:;-]{1,10}",
        "\\PC{1,6}",
        prop::sample::select(vec![
            "".to_string(),
            "0".into(),
            "00".into(),
            "1".into(),
            "9999999".into(),
            "10000000".into(),
            "10000001".into(),
            i64::MAX.to_string(),
            (i64::MAX as u64 + 1).to_string(),
            u64::MAX.to_string(),
            "-0".into(),
            "-1".into(),
            "１２".into(),
            "٣".into(),
        ]),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_string_is_an_amount_or_a_4xx_naming_the_parameter(raw in segment()) {
        check_parser::<Amount>("price", &raw, Amount::parse("price", &raw).map(|v| v.get().to_string()))?;
    }

    #[test]
    fn any_string_is_a_quantity_or_a_4xx_naming_the_parameter(raw in segment()) {
        check_parser::<Quantity>("quantity", &raw, Quantity::parse("quantity", &raw).map(|v| v.get().to_string()))?;
    }

    #[test]
    fn any_string_is_a_batch_size_or_a_4xx_naming_the_parameter(raw in segment()) {
        check_parser::<BatchSize>("n", &raw, BatchSize::parse("n", &raw).map(|v| v.get().to_string()))?;
    }

    #[test]
    fn any_string_is_an_id_or_a_4xx_naming_the_parameter(raw in segment()) {
        check_parser::<Id>("order_id", &raw, Id::parse("order_id", &raw).map(Id::into_string))?;
    }

    #[test]
    fn every_documented_amount_parses(v in 0i64..) {
        prop_assert_eq!(Amount::parse("amount", &v.to_string()).unwrap().get(), v);
    }

    #[test]
    fn every_documented_quantity_and_batch_size_parses(q in 1i64.., n in 1..=BatchSize::MAX) {
        prop_assert_eq!(Quantity::parse("quantity", &q.to_string()).unwrap().get(), q);
        prop_assert_eq!(BatchSize::parse("n", &n.to_string()).unwrap().get(), n);
    }

    #[test]
    fn every_documented_id_parses(raw in "[A-Za-z0-9_-]{1,64}") {
        prop_assert!(schema_accepts(&json_schema::<Id>(), &raw));
        prop_assert_eq!(Id::parse("item_id", &raw).unwrap().into_string(), raw);
    }
}
