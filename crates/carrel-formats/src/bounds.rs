//! The running bounds of one extraction: the deadline and the problems met.

use std::time::{Duration, Instant};

use crate::{FormatError, Limits, Problem};

/// At most this many problems are kept per file.
const MAX_PROBLEMS: usize = 64;

pub(crate) struct Ctx<'a> {
    pub limits: &'a Limits,
    start: Instant,
    problems: Vec<Problem>,
}

impl<'a> Ctx<'a> {
    pub fn new(limits: &'a Limits) -> Self {
        Ctx {
            limits,
            start: Instant::now(),
            problems: Vec::new(),
        }
    }

    pub fn expired(&self) -> bool {
        self.start.elapsed() >= self.limits.deadline
    }

    pub fn remaining(&self) -> Duration {
        self.limits.deadline.saturating_sub(self.start.elapsed())
    }

    /// Fails with [`FormatError::Deadline`] once the deadline has passed
    /// (for steps before anything usable, such as a title, was read).
    pub fn check(&self) -> Result<(), FormatError> {
        if self.expired() {
            Err(FormatError::Deadline)
        } else {
            Ok(())
        }
    }

    /// True once the deadline has passed, recording it (for steps after a
    /// title was read: the caller keeps what it has).
    pub fn out_of_time(&mut self) -> bool {
        let out = self.expired();
        if out {
            self.problem(
                "deadline",
                "the deadline passed; the rest of the file was not read",
            );
        }
        out
    }

    pub fn problem(&mut self, code: &'static str, message: impl Into<String>) {
        let message = message.into();
        if self.problems.len() >= MAX_PROBLEMS
            || self
                .problems
                .iter()
                .any(|p| p.code == code && p.message == message)
        {
            return;
        }
        self.problems.push(Problem { code, message });
    }

    pub fn has_problem(&self, code: &str) -> bool {
        self.problems.iter().any(|p| p.code == code)
    }

    pub fn into_problems(self) -> Vec<Problem> {
        self.problems
    }
}
