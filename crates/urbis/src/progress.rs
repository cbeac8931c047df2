//! Progress bars for long work on the command line (indicatif), hidden when not on a terminal.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::Mutex;
use urbis_import::ImportProgress;

pub struct Bar {
    label: String,
    bar: Mutex<Option<ProgressBar>>,
}

impl Bar {
    pub fn new(label: impl Into<String>) -> Self {
        Bar { label: label.into(), bar: Mutex::new(None) }
    }

    fn finish_current(&self) {
        if let Ok(mut b) = self.bar.lock() {
            if let Some(old) = b.take() {
                old.finish_and_clear();
            }
        }
    }
}

impl ImportProgress for Bar {
    fn phase(&self, name: &str, total: Option<u64>) {
        self.finish_current();
        let bar = match total {
            Some(n) => ProgressBar::new(n).with_style(
                ProgressStyle::with_template(
                    "{prefix:>24} {msg:<9} [{bar:30}] {pos:>7}/{len:7} {per_sec:>12} eta {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            ),
            None => ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{prefix:>24} {msg:<9} {spinner} {pos:>7}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            ),
        };
        bar.set_draw_target(ProgressDrawTarget::stderr());
        bar.set_prefix(self.label.clone());
        bar.set_message(name.to_string());
        if let Ok(mut b) = self.bar.lock() {
            *b = Some(bar);
        }
    }

    fn advance(&self, done: u64) {
        if let Ok(b) = self.bar.lock() {
            if let Some(bar) = b.as_ref() {
                bar.set_position(done);
            }
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.finish_current();
    }
}
