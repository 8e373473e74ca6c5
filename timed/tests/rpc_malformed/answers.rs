//! What a malformed request must get back, and checking the answer.

use serde_json::{Value, json};

/// What a body must get back.
#[derive(Debug)]
pub(crate) enum Expect {
    /// One JSON-RPC error: id echoed, the code, a message naming the problem
    /// (every word must appear), and for rejections the typed data (each key
    /// given must match).
    Error { id: Value, code: i64, words: Vec<String>, data: Option<Value>, status: u16 },
    /// One successful response with this id.
    Result { id: Value },
    /// No body at all (notifications).
    Nothing,
    /// An array with one answer per id: `Ok` a result, `Err(code)` an error.
    Batch(Vec<(Value, Result<(), i64>)>),
}

pub(crate) struct Case {
    pub(crate) name: String,
    pub(crate) body: Vec<u8>,
    pub(crate) expect: Expect,
}

pub(crate) fn err(id: Value, code: i64, words: &[&str]) -> Expect {
    Expect::Error {
        id,
        code,
        words: words.iter().map(|w| w.to_string()).collect(),
        data: None,
        status: 200,
    }
}

pub(crate) fn call(id: Value, method: &str, params: Value) -> Vec<u8> {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string().into_bytes()
}

/// Sends one case; `Err` says what was wrong with the answer.
pub(crate) async fn send_case(
    http: &reqwest::Client,
    url: &str,
    case: &Case,
) -> Result<(), String> {
    let response = http
        .post(url)
        .header("content-type", "application/json")
        .body(case.body.clone())
        .send()
        .await
        .map_err(|e| format!("no HTTP answer: {e}"))?;
    let status = response.status().as_u16();
    let body = response.bytes().await.map_err(|e| format!("reading the body: {e}"))?;
    if status >= 500 {
        return Err(format!(
            "HTTP {status} for a client's mistake: {}",
            String::from_utf8_lossy(&body)
        ));
    }
    if let Expect::Nothing = case.expect {
        return if body.is_empty() {
            Ok(())
        } else {
            Err(format!("a notification got a body: {}", String::from_utf8_lossy(&body)))
        };
    }
    let answer: Value = serde_json::from_slice(&body).map_err(|e| {
        format!("HTTP {status}, body is not JSON ({e}): {}", String::from_utf8_lossy(&body))
    })?;
    match &case.expect {
        Expect::Nothing => unreachable!("handled above"),
        Expect::Error { id, code, words, data, status: expected_status } => {
            if status != *expected_status {
                return Err(format!("HTTP {status}, expected {expected_status}: {answer}"));
            }
            check_error(&answer, id, *code, words, data.as_ref())
        }
        Expect::Result { id } => {
            check_envelope(&answer, id)?;
            if answer.get("result").is_none() || answer.get("error").is_some() {
                return Err(format!("expected a result: {answer}"));
            }
            Ok(())
        }
        Expect::Batch(expected) => {
            let Value::Array(answers) = &answer else {
                return Err(format!("expected an array: {answer}"));
            };
            if answers.len() != expected.len() {
                return Err(format!(
                    "{} answers, expected {} (notifications get none): {answer}",
                    answers.len(),
                    expected.len()
                ));
            }
            for (id, outcome) in expected {
                let Some(one) = answers.iter().find(|a| a.get("id") == Some(id)) else {
                    return Err(format!("no answer with id {id}: {answer}"));
                };
                match outcome {
                    Ok(()) if one.get("result").is_some() && one.get("error").is_none() => {
                        check_envelope(one, id)?
                    }
                    Ok(()) => return Err(format!("id {id}: expected a result: {one}")),
                    Err(code) => check_error(one, id, *code, &[], None)?,
                }
            }
            Ok(())
        }
    }
}

fn check_envelope(answer: &Value, id: &Value) -> Result<(), String> {
    if answer.get("jsonrpc") != Some(&json!("2.0")) {
        return Err(format!("jsonrpc is not \"2.0\": {answer}"));
    }
    if answer.get("id") != Some(id) {
        return Err(format!("id not echoed (expected {id}): {answer}"));
    }
    Ok(())
}

fn check_error(
    answer: &Value,
    id: &Value,
    code: i64,
    words: &[String],
    data: Option<&Value>,
) -> Result<(), String> {
    check_envelope(answer, id)?;
    if answer.get("result").is_some() {
        return Err(format!("an error response with a result: {answer}"));
    }
    let error = answer.get("error").ok_or_else(|| format!("no error object: {answer}"))?;
    if error.get("code").and_then(Value::as_i64) != Some(code) {
        return Err(format!(
            "code {}, expected {code}: {answer}",
            error.get("code").unwrap_or(&Value::Null)
        ));
    }
    let message = error.get("message").and_then(Value::as_str).unwrap_or_default();
    if message.is_empty() {
        return Err(format!("no message: {answer}"));
    }
    let lower = message.to_lowercase();
    if let Some(word) = words.iter().find(|w| !lower.contains(&w.to_lowercase())) {
        return Err(format!("the message does not name {word:?}: {message:?}"));
    }
    if let Some(expected) = data {
        let actual =
            error.get("data").ok_or_else(|| format!("no data (expected {expected}): {answer}"))?;
        let Value::Object(fields) = expected else { unreachable!("data expectations are objects") };
        for (key, value) in fields {
            if actual.get(key) != Some(value) {
                return Err(format!(
                    "data.{key} is {}, expected {value}: {actual}",
                    actual.get(key).unwrap_or(&Value::Null)
                ));
            }
        }
    }
    Ok(())
}
