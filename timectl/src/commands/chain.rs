//! Talking to the chain through the nodes: `rpc` (one call to one node)
//! and `fund` (a payment from the dev wallet, made by `cluster::fund`).

use anyhow::anyhow;
use cluster::ClusterView;
use cluster::layout::Layout;
use protocol::{Address, Amount, Network};

use super::node_index;
use crate::{EXIT_FAILED, EXIT_NOT_READY, EXIT_OK, EXIT_USAGE, Outcome, failure, render};

/// An RPC parameter: JSON when it parses as JSON, else a string.
fn param_value(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.to_string()))
}

pub(crate) async fn rpc(layout: &Layout, node: &str, method: &str, params: &[String]) -> Outcome {
    let view = ClusterView::load(layout).map_err(anyhow::Error::from)?;
    let i = node_index(&view, node)?;
    let client = view.rpc(i).map_err(anyhow::Error::from)?;
    let params = serde_json::Value::Array(params.iter().map(|p| param_value(p)).collect());
    match client.call(method, params).await {
        Ok(value) => {
            client::outln!(
                "{}",
                serde_json::to_string_pretty(&value).unwrap_or_else(|_| value.to_string())
            );
            Ok(EXIT_OK)
        }
        Err(e) => Err(failure(EXIT_FAILED, anyhow!("{node}: {e}"))),
    }
}

/// `fund ADDRESS AMOUNT`: exit 0 once the payment settled, 3 when it was
/// sent but not settled in time.
pub(crate) async fn fund(layout: &Layout, address: &str, amount: &str, json: bool) -> Outcome {
    let view = ClusterView::load(layout).map_err(anyhow::Error::from)?;
    let to = Address::parse_for(address, Network::Dev)
        .map_err(|e| failure(EXIT_USAGE, anyhow!("{e}")))?;
    let amount: Amount = amount.parse().map_err(|e| failure(EXIT_USAGE, anyhow!("{e}")))?;
    let receipt = cluster::fund::fund(&view, to, amount)
        .await
        .map_err(|e| failure(EXIT_FAILED, anyhow::Error::from(e)))?;
    render::print_fund_receipt(&receipt, json);
    Ok(if receipt.settled() { EXIT_OK } else { EXIT_NOT_READY })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_json_when_they_parse_and_strings_otherwise() {
        assert_eq!(param_value("5"), serde_json::json!(5));
        assert_eq!(param_value("true"), serde_json::json!(true));
        assert_eq!(param_value("[1,\"a\"]"), serde_json::json!([1, "a"]));
        assert_eq!(param_value("abc"), serde_json::json!("abc"));
    }
}
