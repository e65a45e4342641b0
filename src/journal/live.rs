//! Live turns: a person's reply reaches the customer's open chat widget as soon as it is
//! journaled. One tokio broadcast channel per watched conversation, made by its first watcher and
//! dropped once nobody watches; turns of unwatched conversations are only journaled (a widget
//! that connects later reads them back from the journal).

use std::collections::HashMap;

use parking_lot::Mutex;
use tokio::sync::broadcast;

use super::StoredTurn;

/// Turns a slow watcher may fall behind by before it re-reads the journal instead.
const BUFFER: usize = 16;

#[derive(Default)]
pub struct Live {
    channels: Mutex<HashMap<String, broadcast::Sender<StoredTurn>>>,
}

impl Live {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts watching a conversation. Subscribe before reading the journal's backlog, so that
    /// no turn falls between the two (the watcher skips ids it has already seen).
    pub fn watch(&self, conversation_id: &str) -> broadcast::Receiver<StoredTurn> {
        let mut channels = self.channels.lock();
        // Forget conversations nobody watches any more (their widgets closed).
        channels.retain(|_, tx| tx.receiver_count() > 0);
        channels.entry(conversation_id.to_string()).or_insert_with(|| broadcast::channel(BUFFER).0).subscribe()
    }

    /// Pushes a journaled turn to the conversation's watchers; returns how many it reached.
    pub fn publish(&self, turn: &StoredTurn) -> usize {
        let channels = self.channels.lock();
        channels.get(&turn.turn.conversation_id).and_then(|tx| tx.send(turn.clone()).ok()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::TurnRecord;

    fn turn(conversation: &str, id: i64) -> StoredTurn {
        StoredTurn {
            id,
            at: String::new(),
            turn: TurnRecord { conversation_id: conversation.into(), role: "agent".into(), text: "hi".into(), intent: None, confidence: None, detail: serde_json::Value::Null, latency_ms: None },
        }
    }

    #[test]
    fn watchers_get_their_conversations_turns_only() {
        let live = Live::new();
        let mut a = live.watch("a");
        let mut b = live.watch("b");
        assert_eq!(live.publish(&turn("a", 1)), 1);
        assert_eq!(live.publish(&turn("nobody", 2)), 0);
        assert_eq!(a.try_recv().unwrap().id, 1);
        assert!(b.try_recv().is_err());
    }

    #[test]
    fn a_conversation_nobody_watches_is_forgotten() {
        let live = Live::new();
        drop(live.watch("a"));
        let _b = live.watch("b");
        assert_eq!(live.channels.lock().len(), 1);
        assert_eq!(live.publish(&turn("a", 1)), 0);
    }
}
