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

/// Open streams one conversation may have: a shopper with a few tabs open, not a loop.
pub const PER_CONVERSATION: usize = 8;

/// Why a stream was not opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WatchRefused {
    #[error("this conversation already has {PER_CONVERSATION} open streams")]
    Conversation,
    #[error("the server has as many open streams as it allows")]
    Server,
}

impl WatchRefused {
    /// Stable code for the API.
    pub fn code(self) -> &'static str {
        match self {
            Self::Conversation => "too_many_streams",
            Self::Server => "overloaded",
        }
    }
}

pub struct Live {
    channels: Mutex<HashMap<String, broadcast::Sender<StoredTurn>>>,
    /// Open streams the whole server allows (`server.max_streams`). Each is a held connection
    /// and a task; without a bound, a client that opens streams in a loop would exhaust memory
    /// and file descriptors for every shopper.
    max_streams: usize,
}

impl Live {
    pub fn new(max_streams: usize) -> Self {
        Self {
            channels: Mutex::default(),
            max_streams,
        }
    }

    /// Starts watching a conversation. Subscribe before reading the journal's backlog, so that
    /// no turn falls between the two (the watcher skips ids it has already seen). Refused past
    /// [`PER_CONVERSATION`] streams on one conversation or `max_streams` on the server; a
    /// stream's place is freed when its receiver is dropped (the client went away).
    pub fn watch(
        &self,
        conversation_id: &str,
    ) -> Result<broadcast::Receiver<StoredTurn>, WatchRefused> {
        let mut channels = self.channels.lock();
        // Forget conversations nobody watches any more (their widgets closed).
        channels.retain(|_, tx| tx.receiver_count() > 0);
        if channels
            .get(conversation_id)
            .is_some_and(|tx| tx.receiver_count() >= PER_CONVERSATION)
        {
            return Err(WatchRefused::Conversation);
        }
        if channels
            .values()
            .map(broadcast::Sender::receiver_count)
            .sum::<usize>()
            >= self.max_streams
        {
            return Err(WatchRefused::Server);
        }
        Ok(channels
            .entry(conversation_id.to_string())
            .or_insert_with(|| broadcast::channel(BUFFER).0)
            .subscribe())
    }

    /// Pushes a journaled turn to the conversation's watchers; returns how many it reached.
    pub fn publish(&self, turn: &StoredTurn) -> usize {
        let channels = self.channels.lock();
        channels
            .get(&turn.turn.conversation_id)
            .and_then(|tx| tx.send(turn.clone()).ok())
            .unwrap_or(0)
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
            turn: TurnRecord {
                conversation_id: conversation.into(),
                role: "agent".into(),
                text: "hi".into(),
                intent: None,
                confidence: None,
                detail: crate::journal::TurnDetail::new(),
                latency_ms: None,
            },
        }
    }

    #[test]
    fn watchers_get_their_conversations_turns_only() {
        let live = Live::new(10);
        let mut a = live.watch("a").unwrap();
        let mut b = live.watch("b").unwrap();
        assert_eq!(live.publish(&turn("a", 1)), 1);
        assert_eq!(live.publish(&turn("nobody", 2)), 0);
        assert_eq!(a.try_recv().unwrap().id, 1);
        assert!(b.try_recv().is_err());
    }

    #[test]
    fn a_conversation_nobody_watches_is_forgotten() {
        let live = Live::new(10);
        drop(live.watch("a").unwrap());
        let _b = live.watch("b").unwrap();
        assert_eq!(live.channels.lock().len(), 1);
        assert_eq!(live.publish(&turn("a", 1)), 0);
    }

    #[test]
    fn streams_are_bounded_per_conversation_and_per_server_and_freed_when_closed() {
        let live = Live::new(10);
        let mut open: Vec<_> = (0..PER_CONVERSATION)
            .map(|_| live.watch("tabs").unwrap())
            .collect();
        assert_eq!(live.watch("tabs").unwrap_err(), WatchRefused::Conversation);
        open.pop();
        open.push(live.watch("tabs").expect("a closed tab frees its place"));
        open.push(live.watch("b").unwrap());
        open.push(live.watch("c").unwrap());
        assert_eq!(
            live.watch("d").unwrap_err(),
            WatchRefused::Server,
            "10 open in all"
        );
        drop(open);
        assert!(live.watch("d").is_ok());
    }
}
