//! Exponential backoff for calls whose outcome is not known yet (Redis or a
//! participant unreachable): each pause twice the last, up to a bound, and never
//! past the caller's deadline.
//!
//! Every retry loop pauses through [`Backoff`] (the saga's and the checkout's in
//! the order service, a Redis call waiting for its Redis here), so they all behave
//! alike. It only says how long to wait, and waits; it never decides
//! whether a failure may be retried, and it reads time from tokio's clock only
//! (so tests can pause it).

use std::time::Duration;

use tokio::time::Instant;

/// The pauses of one retry loop: `first`, twice that, ..., at most `max`.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(first: Duration, max: Duration) -> Self {
        Backoff { next: first, max }
    }

    /// The pause to take now; the next one is twice as long, up to the bound.
    pub fn pause(&mut self) -> Duration {
        let pause = self.next;
        self.next = (self.next * 2).min(self.max);
        pause
    }

    /// The next pause, or `None` when it would end after `deadline` (time to give up).
    pub fn pause_before(&mut self, deadline: Instant) -> Option<Duration> {
        (Instant::now() + self.next <= deadline).then(|| self.pause())
    }

    /// Sleeps for the next pause and answers `true`, or answers `false` at once when
    /// that pause would end after `deadline`.
    pub async fn wait(&mut self, deadline: Instant) -> bool {
        match self.pause_before(deadline) {
            Some(pause) => {
                tokio::time::sleep(pause).await;
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_up_to_the_bound() {
        let mut backoff = Backoff::new(Duration::from_millis(10), Duration::from_millis(50));
        let pauses: Vec<u64> = (0..5).map(|_| backoff.pause().as_millis() as u64).collect();
        assert_eq!(pauses, [10, 20, 40, 50, 50]);
    }

    #[tokio::test(start_paused = true)]
    async fn waits_only_while_the_pause_ends_before_the_deadline() {
        let start = Instant::now();
        let deadline = start + Duration::from_millis(35);
        let mut backoff = Backoff::new(Duration::from_millis(10), Duration::from_millis(500));
        assert!(backoff.wait(deadline).await, "10 ms fit");
        assert!(backoff.wait(deadline).await, "20 more ms fit (30)");
        assert!(!backoff.wait(deadline).await, "40 more would end at 70");
        assert_eq!(
            start.elapsed(),
            Duration::from_millis(30),
            "no sleep when giving up"
        );
        assert_eq!(
            backoff.pause_before(deadline),
            None,
            "and no pause is used up"
        );
        assert_eq!(backoff.pause(), Duration::from_millis(40));
    }
}
