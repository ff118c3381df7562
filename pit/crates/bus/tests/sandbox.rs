//! The sandbox as the kernel enforces it: a child reads what its policy
//! lists, and nothing else.

use std::path::{Path, PathBuf};

use pit_bus::sandbox::{Policy, support};
use pit_bus::spawn::{Limits, Spec, spawn};

fn run(policy: Policy, argv: &[&str], cwd: &Path) -> i32 {
    let spec = Spec {
        argv: argv.iter().map(|s| s.to_string()).collect(),
        cwd: cwd.to_path_buf(),
        env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        limits: Limits::default(),
        isolate_network: false,
        log: PathBuf::from("/dev/null"),
        sandbox: Some(policy),
        scratch: None,
    };
    let pid = spawn(spec).expect("spawn");
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid as i32, &mut status, 0) };
    libc::WEXITSTATUS(status)
}

fn system() -> Vec<PathBuf> {
    ["/usr", "/bin", "/lib", "/lib64", "/etc/ld.so.cache"]
        .iter()
        .map(PathBuf::from)
        .filter(|p| p.exists())
        .collect()
}

#[test]
fn a_child_reads_only_what_its_policy_lists() {
    if support().landlock_abi < pit_bus::sandbox::LANDLOCK_ABI {
        eprintln!(
            "skipped: this kernel has no Landlock ABI {}",
            pit_bus::sandbox::LANDLOCK_ABI
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let granted = dir.path().join("granted");
    let secret = dir.path().join("secret");
    std::fs::create_dir(&granted).unwrap();
    std::fs::create_dir(&secret).unwrap();
    std::fs::write(granted.join("a"), "a").unwrap();
    std::fs::write(secret.join("key"), "key").unwrap();
    let policy = |read: Vec<PathBuf>| Policy {
        read,
        execute: system(),
        landlock: true,
        seccomp: true,
        ..Policy::default()
    };
    let cat = |p: &Path| vec!["/bin/cat".to_string(), p.display().to_string()];
    let argv = cat(&granted.join("a"));
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    assert_eq!(run(policy(vec![granted.clone()]), &argv, dir.path()), 0);
    let argv = cat(&secret.join("key"));
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    assert_ne!(run(policy(vec![granted.clone()]), &argv, dir.path()), 0);
    // Through a link in the granted folder: the kernel follows it and refuses.
    std::os::unix::fs::symlink(secret.join("key"), granted.join("link")).unwrap();
    let argv = cat(&granted.join("link"));
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    assert_ne!(run(policy(vec![granted]), &argv, dir.path()), 0);
}
