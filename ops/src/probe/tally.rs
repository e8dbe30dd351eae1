//! The verdict of a probe: one `PASS what` or `FAIL what` line per check as it is made, and
//! at the end the line `N passed, M failed` and the exit code (1 when a check failed).

use std::process::ExitCode;

#[derive(Debug, Default)]
pub struct Tally {
    passed: usize,
    failed: usize,
}

impl Tally {
    /// Prints and counts one check; returns `ok`.
    pub fn check(&mut self, ok: bool, what: impl std::fmt::Display) -> bool {
        self.check_showing(ok, what, "")
    }

    /// As `check`, and on a failure also prints `detail` (the answer that failed it).
    pub fn check_showing(
        &mut self,
        ok: bool,
        what: impl std::fmt::Display,
        detail: impl std::fmt::Display,
    ) -> bool {
        if ok {
            self.passed += 1;
            println!("PASS {what}");
        } else {
            self.failed += 1;
            println!("FAIL {what}");
            let detail = detail.to_string();
            if !detail.is_empty() {
                println!("     {detail}");
            }
        }
        ok
    }

    /// Prints `N passed, M failed` and returns the exit code.
    pub fn summary(&self) -> ExitCode {
        println!("{} passed, {} failed", self.passed, self.failed);
        if self.failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_failed_check_fails_the_probe() {
        let mut tally = Tally::default();
        assert!(tally.check(true, "fine"));
        assert_eq!(tally.summary(), ExitCode::SUCCESS);
        assert!(!tally.check_showing(false, "broken", "last answer: 500"));
        assert_eq!((tally.passed, tally.failed), (1, 1));
        assert_eq!(tally.summary(), ExitCode::FAILURE);
    }
}
