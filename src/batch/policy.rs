//! `--fail-on` and `--min-pass-rate`: whether a completed run's results are acceptable.

use serde::{Deserialize, Serialize};

use super::outcome::Counts;

/// `--fail-on error|failure|never`: which case results make the exit status 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailOn {
    /// Exit 1 only when a case errored.
    Error,
    /// Exit 1 when a case failed or errored.
    #[default]
    Failure,
    /// Never exit 1 for case results (usage, fetch and timeout codes still apply).
    Never,
}

impl FailOn {
    /// `error`, `failure`, `never`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Failure => "failure",
            Self::Never => "never",
        }
    }
}

/// The pass/fail policy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    pub fail_on: FailOn,
    pub min_pass_rate: Option<f64>,
}

/// The policy applied to a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// Whether the policy holds.
    pub holds: bool,
    /// Why it does not.
    pub reasons: Vec<String>,
}

impl Policy {
    /// Checks the counts.
    pub fn evaluate(&self, counts: &Counts) -> Verdict {
        let mut reasons = Vec::new();
        match self.fail_on {
            FailOn::Never => {}
            FailOn::Error => {
                if counts.errored > 0 {
                    reasons.push(format!(
                        "{} {} errored",
                        counts.errored,
                        cases(counts.errored)
                    ));
                }
            }
            FailOn::Failure => {
                if counts.failed > 0 {
                    reasons.push(format!("{} {} failed", counts.failed, cases(counts.failed)));
                }
                if counts.errored > 0 {
                    reasons.push(format!(
                        "{} {} errored",
                        counts.errored,
                        cases(counts.errored)
                    ));
                }
            }
        }
        if let Some(minimum) = self.min_pass_rate {
            match counts.pass_rate() {
                Some(rate) if rate + 1e-12 >= minimum => {}
                Some(rate) => reasons.push(format!(
                    "pass rate {} is below the minimum {}",
                    percent(rate),
                    percent(minimum)
                )),
                None => reasons.push(format!(
                    "no case ran, so the minimum pass rate {} is not met",
                    percent(minimum)
                )),
            }
        }
        Verdict {
            holds: reasons.is_empty(),
            reasons,
        }
    }
}

fn cases(count: usize) -> &'static str {
    if count == 1 { "case" } else { "cases" }
}

/// `97.5%`.
pub fn percent(rate: f64) -> String {
    let value = (rate * 1000.0).round() / 10.0;
    format!("{value}%")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(passed: usize, failed: usize, errored: usize) -> Counts {
        Counts {
            total: passed + failed + errored,
            passed,
            failed,
            errored,
            skipped: 0,
        }
    }

    #[test]
    fn fail_on_levels() {
        let policy = |fail_on| Policy {
            fail_on,
            min_pass_rate: None,
        };
        assert!(policy(FailOn::Failure).evaluate(&counts(3, 0, 0)).holds);
        assert_eq!(
            policy(FailOn::Failure).evaluate(&counts(3, 1, 2)).reasons,
            vec!["1 case failed", "2 cases errored"]
        );
        assert!(policy(FailOn::Error).evaluate(&counts(3, 1, 0)).holds);
        assert!(!policy(FailOn::Error).evaluate(&counts(3, 0, 1)).holds);
        assert!(policy(FailOn::Never).evaluate(&counts(0, 5, 5)).holds);
    }

    #[test]
    fn minimum_pass_rate() {
        let policy = Policy {
            fail_on: FailOn::Never,
            min_pass_rate: Some(0.75),
        };
        assert!(policy.evaluate(&counts(3, 1, 0)).holds);
        assert_eq!(
            policy.evaluate(&counts(2, 1, 1)).reasons,
            vec!["pass rate 50% is below the minimum 75%"]
        );
        assert!(!policy.evaluate(&counts(0, 0, 0)).holds);
    }
}
