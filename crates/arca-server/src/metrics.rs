//! Metrics (stand-in until the metrics are merged).

#[derive(Default)]
pub struct Metrics;

impl Metrics {
    pub fn new() -> Self {
        Metrics
    }
}
