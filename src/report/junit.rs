//! `--junit FILE`: one JUnit test case per case (quick-junit), for CI test viewers.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::batch::CaseStatus;

use super::Brief;
use super::summary::Summary;

/// The JUnit XML of a run: suite = the inputs file, test = case id, class = agent.
pub fn render(summary: &Summary, briefs: &[Brief]) -> Result<String, quick_junit::SerializeError> {
    let mut report = Report::new("aigne-ci");
    let mut suite = TestSuite::new(summary.inputs.file.as_str());
    let mut ordered: Vec<&Brief> = briefs.iter().collect();
    ordered.sort_by_key(|brief| brief.line);
    for brief in ordered {
        let mut status = match brief.status {
            CaseStatus::Passed => TestCaseStatus::success(),
            CaseStatus::Failed => TestCaseStatus::non_success(NonSuccessKind::Failure),
            CaseStatus::Errored => TestCaseStatus::non_success(NonSuccessKind::Error),
            CaseStatus::Skipped => TestCaseStatus::skipped(),
        };
        if let Some(detail) = &brief.detail {
            status.set_message(detail.as_str());
        }
        if let Some(kind) = &brief.error_kind {
            status.set_type(kind.as_str());
        }
        if let Some(output) = &brief.output_excerpt {
            status.set_description(output.as_str());
        }
        let mut case = TestCase::new(brief.id.as_str(), status);
        case.set_classname(brief.agent.as_str());
        case.set_time(Duration::from_millis(brief.duration_ms));
        case.add_property(quick_junit::Property::new("line", brief.line.to_string()));
        suite.add_test_case(case);
    }
    suite.set_time(Duration::from_millis(summary.durations.wall_ms));
    report.add_test_suite(suite);
    report.set_time(Duration::from_millis(summary.durations.wall_ms));
    report.to_string()
}
