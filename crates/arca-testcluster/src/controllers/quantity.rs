//! Kubernetes resource quantities (`1Gi`, `500M`, `1.5e3`), enough to compare
//! a claim's request with a volume's capacity.

/// Suffixes and their multipliers, binary first (`Mi` before `M`).
const SUFFIXES: &[(&str, f64)] = &[
    ("Ki", 1024.0),
    ("Mi", 1048576.0),
    ("Gi", 1073741824.0),
    ("Ti", 1099511627776.0),
    ("Pi", 1125899906842624.0),
    ("Ei", 1152921504606846976.0),
    ("n", 1e-9),
    ("u", 1e-6),
    ("m", 1e-3),
    ("k", 1e3),
    ("M", 1e6),
    ("G", 1e9),
    ("T", 1e12),
    ("P", 1e15),
    ("E", 1e18),
];

/// The value of a quantity string; `None` when it does not parse.
pub fn parse(s: &str) -> Option<f64> {
    let s = s.trim();
    if let Some((number, factor)) = SUFFIXES.iter().find_map(|(suf, f)| s.strip_suffix(suf).map(|n| (n, *f))) {
        return number.parse::<f64>().ok().map(|n| n * factor);
    }
    s.parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_suffixes() {
        assert_eq!(parse("1Gi"), Some(1073741824.0));
        assert_eq!(parse("2G"), Some(2e9));
        assert_eq!(parse("1.5e3"), Some(1500.0));
        assert_eq!(parse("500m"), Some(0.5));
        assert_eq!(parse("10"), Some(10.0));
        assert!(parse("1Gi") > parse("1G"));
        assert_eq!(parse("lots"), None);
    }
}
