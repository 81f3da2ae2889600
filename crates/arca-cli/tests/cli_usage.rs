//! What a new user meets first: help layout and the first errors.

mod common;

use common::{Arca, stderr};

/// Each subcommand's own options come first; the global ones follow under
/// their own headings instead of interleaving.
#[test]
fn help_lists_own_options_before_global_ones() {
    let arca = Arca::new_local();
    for cmd in [&["backup", "create"][..], &["restore", "create"], &["fs", "backup"], &["repo", "check"]] {
        let mut args = cmd.to_vec();
        args.push("--help");
        let help = arca.ok(&args);
        let own = help.find("\nOptions:").unwrap_or_else(|| panic!("{cmd:?}: no Options heading:\n{help}"));
        let global = help.find("\nGlobal options:").unwrap_or_else(|| panic!("{cmd:?}: no global heading:\n{help}"));
        let repo = help.find("--repo").unwrap_or(0);
        assert!(own < global && global < repo, "{cmd:?}: global options are not after the command's own:\n{help}");
    }
    let help = arca.ok(&["backup", "create", "--help"]);
    let cluster = help.find("\nCluster options").unwrap_or(0);
    let kubeconfig = help.find("--kubeconfig").unwrap_or(0);
    let own = help.find("--include-namespaces").unwrap_or(usize::MAX);
    assert!(own < cluster && cluster < kubeconfig, "{help}");
}

#[test]
fn a_missing_path_is_named_once() {
    let arca = Arca::new_local();
    let missing = arca.path("no-such-dir");
    let out = arca.run(&["fs", "backup", &missing.to_string_lossy()]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("no-such-dir"), "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "the OS error is repeated: {err}");
}

/// A mistyped backup name is reported before any cluster is contacted
/// (here there is none to contact).
#[test]
fn restore_of_an_unknown_backup_says_so_before_reaching_a_cluster() {
    let arca = Arca::new_local();
    let out = arca.run(&["restore", "create", "--from-backup", "nightly", "--kubeconfig", "/nonexistent/kubeconfig"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("no backup named \"nightly\""), "{err}");
    assert!(!err.contains("kubeconfig"), "the cluster was tried first: {err}");
}
