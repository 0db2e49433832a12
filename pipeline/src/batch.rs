//! The batch state machine. Only `BatchState::can_move_to` decides which
//! moves are legal; the store refuses any other and logs each move with
//! its time and reason, so a batch's history can always be told.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where a batch is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchState {
    /// Files fingerprinted and recorded; nothing processed yet.
    Received,
    /// Pages going through the stages.
    Processing,
    /// Every document processed; some fields wait for keyers.
    AwaitingKeying,
    /// Every document packaged.
    Packaged,
    /// A run stopped before the end (crash, Ctrl-C, store error); the next
    /// run picks up the files not yet processed.
    Interrupted,
}

impl BatchState {
    /// Every state, for parsing and reports.
    pub const ALL: [BatchState; 5] = [
        BatchState::Received,
        BatchState::Processing,
        BatchState::AwaitingKeying,
        BatchState::Packaged,
        BatchState::Interrupted,
    ];

    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            BatchState::Received => "received",
            BatchState::Processing => "processing",
            BatchState::AwaitingKeying => "awaiting_keying",
            BatchState::Packaged => "packaged",
            BatchState::Interrupted => "interrupted",
        }
    }

    /// True when the move `self → to` is allowed. A finished batch may be
    /// reopened (new files arrived in its folder); nothing jumps straight
    /// from `Received` to a finished state.
    pub fn can_move_to(self, to: BatchState) -> bool {
        use BatchState::*;
        matches!(
            (self, to),
            (Received, Processing)
                | (Processing, AwaitingKeying)
                | (Processing, Packaged)
                | (Processing, Interrupted)
                | (AwaitingKeying, Packaged)
                | (AwaitingKeying, Processing)
                | (Packaged, Processing)
                | (Interrupted, Processing)
                | (Received, Interrupted)
        )
    }
}

impl fmt::Display for BatchState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BatchState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        BatchState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown batch state '{s}'"))
    }
}

#[cfg(test)]
mod tests {
    use super::BatchState::*;

    #[test]
    fn only_listed_moves_are_legal() {
        assert!(Received.can_move_to(Processing));
        assert!(Processing.can_move_to(Packaged));
        assert!(Packaged.can_move_to(Processing));
        assert!(!Received.can_move_to(Packaged));
        assert!(!Packaged.can_move_to(Received));
        assert!(!Interrupted.can_move_to(Packaged));
        for s in super::BatchState::ALL {
            assert!(!s.can_move_to(s), "{s} to itself");
            assert_eq!(s.as_str().parse::<super::BatchState>().unwrap(), s);
        }
    }
}
