//! The outcomes of the gateway test's checks: a PASS or FAIL line for each as it is made, and
//! at the end one failure naming every check that failed, so that one broken promise never
//! hides the others.

use std::fmt::Display;

/// The checks' outcomes: each printed as it is made, the failures kept for the end.
#[derive(Default)]
pub struct Report {
    passed: usize,
    failed: Vec<String>,
}

impl Report {
    pub fn check(&mut self, what: impl Display, ok: bool, detail: impl Display) {
        if ok {
            self.passed += 1;
            println!("PASS  {what}");
        } else {
            println!("FAIL  {what}\n      {detail}");
            self.failed.push(format!("{what}\n      {detail}"));
        }
    }

    pub fn all_passed(&self) -> bool {
        self.failed.is_empty()
    }

    pub fn finish(self, run_dir: &str) {
        println!("{} passed, {} failed", self.passed, self.failed.len());
        assert!(
            self.failed.is_empty(),
            "{} of {} gateway checks failed (the gateway's log: {run_dir}/logs/gateway.log):\n{}",
            self.failed.len(),
            self.passed + self.failed.len(),
            self.failed.join("\n")
        );
    }
}
