//! JSON-RPC 2.0 framing: single requests, batches, notifications, parameter
//! access (positional or named), and error responses.

use std::time::Instant;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use protocol::rpc::codes;

use super::Shared;

/// A JSON-RPC error.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fault {
    pub(crate) code: i64,
    pub(crate) message: String,
    pub(crate) data: Option<Value>,
}

impl Fault {
    pub(crate) fn new(code: i64, message: impl Into<String>) -> Fault {
        Fault { code, message: message.into(), data: None }
    }

    pub(crate) fn with_data(mut self, data: Value) -> Fault {
        self.data = Some(data);
        self
    }

    pub(crate) fn params(message: impl Into<String>) -> Fault {
        Fault::new(codes::INVALID_PARAMS, message)
    }

    fn to_json(&self) -> Value {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(data) = &self.data {
            error["data"] = data.clone();
        }
        error
    }
}

/// A whole error response (used before a request could be parsed).
pub(crate) fn error_response(status: StatusCode, code: i64, message: String) -> Response {
    let body = json!({"jsonrpc": "2.0", "id": null, "error": {"code": code, "message": message}});
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn json_response(value: &Value) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], value.to_string())
        .into_response()
}

/// The parameters of one call, positional or named.
#[derive(Debug)]
pub(crate) struct Params {
    positional: Vec<Value>,
    named: Map<String, Value>,
    by_name: bool,
}

impl Params {
    fn from(value: Option<Value>) -> Result<Params, Fault> {
        match value {
            None | Some(Value::Null) => {
                Ok(Params { positional: Vec::new(), named: Map::new(), by_name: false })
            }
            Some(Value::Array(items)) => {
                Ok(Params { positional: items, named: Map::new(), by_name: false })
            }
            Some(Value::Object(map)) => {
                Ok(Params { positional: Vec::new(), named: map, by_name: true })
            }
            Some(other) => Err(Fault::new(
                codes::INVALID_REQUEST,
                format!("params must be an array or an object, got {}", kind(&other)),
            )),
        }
    }

    fn raw(&self, index: usize, name: &str) -> Option<&Value> {
        let value = if self.by_name { self.named.get(name) } else { self.positional.get(index) };
        value.filter(|v| !v.is_null())
    }

    /// Parameter `index` (or `name`), if given.
    pub(crate) fn opt<T: DeserializeOwned>(
        &self,
        index: usize,
        name: &str,
        expected: &str,
    ) -> Result<Option<T>, Fault> {
        match self.raw(index, name) {
            None => Ok(None),
            Some(value) => serde_json::from_value(value.clone()).map(Some).map_err(|_| {
                Fault::params(format!(
                    "parameter {} ({name}) must be {expected}, got {}",
                    index + 1,
                    kind(value)
                ))
            }),
        }
    }

    /// Parameter `index` (or `name`), required.
    pub(crate) fn req<T: DeserializeOwned>(
        &self,
        index: usize,
        name: &str,
        expected: &str,
    ) -> Result<T, Fault> {
        self.opt(index, name, expected)?.ok_or_else(|| {
            Fault::params(format!("missing parameter {} ({name}): expected {expected}", index + 1))
        })
    }

    /// The raw JSON of a parameter, if given.
    pub(crate) fn value(&self, index: usize, name: &str) -> Option<&Value> {
        self.raw(index, name)
    }

    /// Fails when more parameters were given than the method takes.
    pub(crate) fn at_most(&self, count: usize, names: &[&str]) -> Result<(), Fault> {
        if self.by_name {
            if let Some(unknown) = self.named.keys().find(|k| !names.contains(&k.as_str())) {
                return Err(Fault::params(format!(
                    "unknown parameter {unknown:?} (this method takes: {})",
                    if names.is_empty() { "nothing".to_string() } else { names.join(", ") }
                )));
            }
        } else if self.positional.len() > count {
            return Err(Fault::params(format!(
                "too many parameters: got {}, this method takes at most {count}",
                self.positional.len()
            )));
        }
        Ok(())
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Answers one HTTP body: a request or a batch.
pub(crate) async fn handle_body(shared: &Shared, body: &[u8]) -> Response {
    let parsed: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(e) => {
            shared.metrics.rpc_request("(parse)", "parse_error");
            return json_response(&json!({
                "jsonrpc": "2.0", "id": null,
                "error": {"code": codes::PARSE_ERROR, "message": format!("invalid JSON: {e}")}
            }));
        }
    };
    match parsed {
        Value::Array(requests) => {
            if requests.is_empty() {
                return json_response(&json!({"jsonrpc": "2.0", "id": null,
                    "error": {"code": codes::INVALID_REQUEST, "message": "empty batch"}}));
            }
            let cap = shared.settings.max_batch;
            if requests.len() > cap {
                return json_response(&json!({"jsonrpc": "2.0", "id": null,
                    "error": {"code": codes::INVALID_REQUEST,
                              "message": format!("batch of {} requests is over rpc.max_batch_size ({cap})", requests.len())}}));
            }
            let mut answers = Vec::with_capacity(requests.len());
            for request in requests {
                if let Some(answer) = handle_one(shared, request).await {
                    answers.push(answer);
                }
            }
            if answers.is_empty() {
                // A batch of notifications gets no content.
                return StatusCode::NO_CONTENT.into_response();
            }
            json_response(&Value::Array(answers))
        }
        single => match handle_one(shared, single).await {
            Some(answer) => json_response(&answer),
            None => StatusCode::NO_CONTENT.into_response(),
        },
    }
}

/// One request object; `None` for a notification.
async fn handle_one(shared: &Shared, request: Value) -> Option<Value> {
    let Value::Object(mut object) = request else {
        return Some(json!({"jsonrpc": "2.0", "id": null,
            "error": {"code": codes::INVALID_REQUEST, "message": "a request must be a JSON object"}}));
    };
    let id = object.remove("id");
    // JSON-RPC 1.0 / 1.1 as bitcoind takes them (`"jsonrpc": "1.0"`, as in
    // its documentation's curl examples): always answered, with `result`
    // and `error` both present and no `jsonrpc` member.
    let legacy = match object.get("jsonrpc") {
        None => false,
        Some(version) if version == "2.0" => false,
        Some(version) if version == "1.0" || version == "1.1" => true,
        Some(_) => {
            return Some(json!({"jsonrpc": "2.0", "id": id.unwrap_or(Value::Null),
                "error": {"code": codes::INVALID_REQUEST, "message": "jsonrpc must be \"2.0\" (or \"1.0\" as bitcoind takes)"}}));
        }
    };
    let notification = id.is_none() && !legacy;
    let id = id.unwrap_or(Value::Null);
    if !matches!(id, Value::Null | Value::Number(_) | Value::String(_)) {
        return Some(json!({"jsonrpc": "2.0", "id": null,
            "error": {"code": codes::INVALID_REQUEST, "message": "id must be a number, a string or null"}}));
    }
    let method = match object.remove("method") {
        Some(Value::String(method)) => method,
        Some(other) => {
            return Some(json!({"jsonrpc": "2.0", "id": id,
                "error": {"code": codes::INVALID_REQUEST, "message": format!("method must be a string, got {}", kind(&other))}}));
        }
        None => {
            return Some(json!({"jsonrpc": "2.0", "id": id,
                "error": {"code": codes::INVALID_REQUEST, "message": "missing method"}}));
        }
    };
    let started = Instant::now();
    let outcome = match Params::from(object.remove("params")) {
        Ok(params) => super::methods::call(shared, &method, &params).await,
        Err(fault) => Err(fault),
    };
    let label = if super::methods::is_known(&method) { method.as_str() } else { "(unknown)" };
    shared.metrics.rpc_request(label, if outcome.is_ok() { "ok" } else { "error" });
    shared.metrics.rpc_latency(started.elapsed());
    if notification {
        return None;
    }
    Some(match (outcome, legacy) {
        (Ok(result), false) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        (Err(fault), false) => json!({"jsonrpc": "2.0", "id": id, "error": fault.to_json()}),
        (Ok(result), true) => json!({"result": result, "error": null, "id": id}),
        (Err(fault), true) => json!({"result": null, "error": fault.to_json(), "id": id}),
    })
}
