//! τ-bench retail cases through the whole assistant: for each case a fresh store loaded from
//! `db.json`, the `tau-retail` policy profile, the customer's message, then "yes" whenever the
//! reply asks to confirm an action (any other question ends the case). The writes the service
//! carried out (read from its action log) are mapped to τ-bench's action names and arguments and
//! compared with the expected ones.
//!
//! Scores: exact (the executed writes equal the expected ones, as multisets, and a hand-off where
//! one is expected), wrong writes (cases with any executed write that was not expected: the
//! failure that must never happen), and hand-offs expected and done.

use std::{path::Path, sync::Arc};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::{
    actions::{Guide, Policy},
    assistant::{Assistant, Question},
    config::Config,
    embed::Embedder,
    index::{build, BuildOptions, IndexHandle},
    journal::Journal,
    orders::{import::Format, LoggedAction, OrderStore, SqliteOrderStore},
    retrieve::Retriever,
    understand::Understander,
};

#[derive(Debug, Clone, Deserialize)]
pub struct Case {
    pub id: String,
    pub message: String,
    pub expected_actions: Vec<TauAction>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TauAction {
    pub name: String,
    pub arguments: Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub id: String,
    pub exact: bool,
    pub wrong_write: bool,
    pub handoff_expected: bool,
    pub handoff_done: bool,
    pub executed: Vec<TauAction>,
    pub expected: Vec<TauAction>,
    /// The conversation: customer and assistant turns.
    pub transcript: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub n: usize,
    /// Share of cases that were exact.
    pub exact: f64,
    pub exact_cases: usize,
    /// Cases with an executed write that was not expected.
    pub wrong_writes: usize,
    pub handoff_expected: usize,
    pub handoff_done: usize,
    /// Hand-offs where none was expected.
    pub handoff_unexpected: usize,
    #[serde(skip)]
    pub cases: Vec<CaseResult>,
}

#[derive(Debug, thiserror::Error)]
pub enum TauError {
    #[error("{0}")]
    Setup(String),
}

const TRANSFER: &str = "transfer_to_human_agents";

/// What one logged action is in τ-bench's terms.
pub fn to_tau(a: &LoggedAction) -> Option<TauAction> {
    let act = &a.doc["action"];
    let order = act["order"].clone();
    let addr = |v: &Value| json!({"address1": v["line1"], "address2": v["line2"].as_str().unwrap_or(""), "city": v["city"], "state": v["region"], "country": v["country"], "zip": v["postcode"]});
    let (name, mut arguments) = match a.kind.as_str() {
        "return_items" => (
            "return_delivered_order_items",
            json!({"order_id": order, "item_ids": act["item_ids"], "payment_method_id": act["refund_method_id"]}),
        ),
        "exchange_items" => (
            "exchange_delivered_order_items",
            json!({"order_id": order, "item_ids": act["item_ids"], "new_item_ids": act["new_item_ids"], "payment_method_id": act["payment_method_id"]}),
        ),
        "cancel_order" => (
            "cancel_pending_order",
            json!({"order_id": order, "reason": act["reason"]}),
        ),
        "change_order_items" => (
            "modify_pending_order_items",
            json!({"order_id": order, "item_ids": act["item_ids"], "new_item_ids": act["new_item_ids"], "payment_method_id": act["payment_method_id"]}),
        ),
        "change_order_payment" => (
            "modify_pending_order_payment",
            json!({"order_id": order, "payment_method_id": act["payment_method_id"]}),
        ),
        "change_order_address" => ("modify_pending_order_address", {
            let mut v = addr(&act["address"]);
            v["order_id"] = order;
            v
        }),
        "change_default_address" => ("modify_user_address", {
            let mut v = addr(&act["address"]);
            v["user_id"] = json!(a.customer_id);
            v
        }),
        _ => return None,
    };
    if a.status != "executed" && a.status != "reverted" {
        return None;
    }
    arguments = normalise(name, arguments);
    Some(TauAction {
        name: name.into(),
        arguments,
    })
}

/// A comparable form: item lists sorted (paired with their replacements), addresses trimmed.
fn normalise(name: &str, mut args: Value) -> Value {
    if let (Some(items), Some(new)) = (
        args["item_ids"].as_array().cloned(),
        args["new_item_ids"].as_array().cloned(),
    ) {
        let mut pairs: Vec<(String, String)> = items
            .iter()
            .zip(&new)
            .map(|(a, b)| {
                (
                    a.as_str().unwrap_or("").into(),
                    b.as_str().unwrap_or("").into(),
                )
            })
            .collect();
        pairs.sort();
        args["item_ids"] = json!(pairs.iter().map(|p| p.0.clone()).collect::<Vec<_>>());
        args["new_item_ids"] = json!(pairs.iter().map(|p| p.1.clone()).collect::<Vec<_>>());
    } else if let Some(items) = args["item_ids"].as_array().cloned() {
        let mut v: Vec<String> = items
            .iter()
            .map(|x| x.as_str().unwrap_or("").to_string())
            .collect();
        v.sort();
        args["item_ids"] = json!(v);
    }
    if name.contains("address") {
        for k in ["address1", "address2", "city", "state", "country", "zip"] {
            let s = args[k].as_str().unwrap_or("").trim().to_string();
            args[k] = json!(s);
        }
    }
    if name == TRANSFER {
        return json!({});
    }
    args
}

/// Runs every case; `progress` is told about each one as it finishes.
pub fn evaluate(
    cfg: &Config,
    db_json: &Path,
    cases: &[Case],
    embedder: Arc<dyn Embedder>,
    understander: Arc<Understander>,
    work: &Path,
    progress: &mut dyn FnMut(&CaseResult),
) -> Result<Report, TauError> {
    let setup = |e: &dyn std::fmt::Display| TauError::Setup(e.to_string());
    let base = SqliteOrderStore::open_in_memory().map_err(|e| setup(&e))?;
    crate::orders::import(&base, db_json, Format::TauRetail).map_err(|e| setup(&e))?;
    let policy = Policy::profile("tau-retail").map_err(|e| setup(&e))?;
    // The help centre answers whatever else a message asks; it is built once.
    let index_root = work.join("index");
    build(
        BuildOptions {
            kb_dir: &cfg.kb_dir,
            index_root: &index_root,
            extra_documents: Vec::new(),
        },
        embedder.as_ref(),
        &mut (),
    )
    .map_err(|e| setup(&e))?;
    let index = Arc::new(IndexHandle::open(&index_root).map_err(|e| setup(&e))?);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| setup(&e))?;
    let mut results = Vec::new();
    for case in cases {
        let store = Arc::new(base.clone_into_memory().map_err(|e| setup(&e))?);
        let journal = Journal::open_in_memory().map_err(|e| setup(&e))?;
        let retriever = Retriever::new(embedder.clone(), index.clone(), cfg.model.max_concurrent);
        let mut case_cfg = cfg.clone();
        case_cfg.policy.profile = "tau-retail".into();
        case_cfg.policy.path = None;
        let assistant = Arc::new(Assistant::new(
            case_cfg,
            retriever,
            understander.clone(),
            store.clone(),
            journal,
            Guide::new(policy.clone()),
        ));
        // The server chooses conversation ids: the first message starts one, the rest continue it.
        let mut conversation: Option<String> = None;
        let client = format!("tau-{}", case.id);
        let mut transcript = Vec::new();
        let mut handoff_done = false;
        let mut message = case.message.clone();
        for _ in 0..5 {
            let q = Question {
                conversation_id: conversation.clone(),
                channel: "api".into(),
                message: message.clone(),
                client: Some(client.clone()),
                ..Default::default()
            };
            let answer = rt.block_on(assistant.handle(q)).map_err(|e| setup(&e))?;
            conversation = Some(answer.conversation_id.clone());
            transcript.push(format!("customer: {message}"));
            transcript.push(format!("assistant: {}", answer.reply));
            if answer.handoff.is_some() {
                handoff_done = true;
                break;
            }
            let asks_to_confirm = answer.actions.iter().any(|a| a["status"] == "proposed");
            if !asks_to_confirm {
                break;
            }
            message = "yes".into();
        }
        let executed: Vec<TauAction> = store
            .actions_for(None, None)
            .map_err(|e| setup(&e))?
            .iter()
            .filter_map(to_tau)
            .collect();
        let expected: Vec<TauAction> = case
            .expected_actions
            .iter()
            .map(|a| TauAction {
                name: a.name.clone(),
                arguments: normalise(&a.name, a.arguments.clone()),
            })
            .collect();
        let expected_writes: Vec<&TauAction> =
            expected.iter().filter(|a| a.name != TRANSFER).collect();
        let handoff_expected = expected.iter().any(|a| a.name == TRANSFER);
        let mut left: Vec<&TauAction> = expected_writes.clone();
        let mut wrong = false;
        for e in &executed {
            match left.iter().position(|x| *x == e) {
                Some(p) => {
                    left.remove(p);
                }
                None => wrong = true,
            }
        }
        let exact = !wrong && left.is_empty() && (!handoff_expected || handoff_done);
        let r = CaseResult {
            id: case.id.clone(),
            exact,
            wrong_write: wrong,
            handoff_expected,
            handoff_done,
            executed,
            expected,
            transcript,
        };
        progress(&r);
        results.push(r);
    }
    let n = results.len();
    let exact_cases = results.iter().filter(|r| r.exact).count();
    Ok(Report {
        n,
        exact: if n == 0 {
            0.0
        } else {
            exact_cases as f64 / n as f64
        },
        exact_cases,
        wrong_writes: results.iter().filter(|r| r.wrong_write).count(),
        handoff_expected: results.iter().filter(|r| r.handoff_expected).count(),
        handoff_done: results
            .iter()
            .filter(|r| r.handoff_expected && r.handoff_done)
            .count(),
        handoff_unexpected: results
            .iter()
            .filter(|r| !r.handoff_expected && r.handoff_done)
            .count(),
        cases: results,
    })
}
