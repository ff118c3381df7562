//! The kernel's walls around an extension: Landlock for its files, TCP and
//! signals, a seccomp deny list for the calls no extension needs, and a pids
//! cgroup against fork bombs.
//!
//! Everything that allocates or opens a path happens in the parent
//! ([`Policy::prepare`]); the child, between fork and exec, only makes the
//! raw calls that install what was prepared ([`Prepared::apply`]).

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreated, RulesetCreatedAttr, Scope,
};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule, TargetArch,
};

/// The Landlock ABI this sandbox asks for: 4 brought TCP rules, 5 device
/// ioctls, 6 the signal and abstract-socket scopes.
pub const LANDLOCK_ABI: i32 = 6;
const ABI_USED: ABI = ABI::V6;

/// System calls no extension makes, denied with EPERM. Each is a way out of
/// the sandbox or into the kernel's attack surface: tracing and reading other
/// processes, mounts and namespaces, eBPF, the kernel keyring, io_uring
/// (whose operations seccomp cannot see), modules, kexec, perf events.
pub const DENIED: &[&str] = &[
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "pidfd_getfd",
    "mount",
    "umount2",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsmount",
    "fsconfig",
    "fspick",
    "mount_setattr",
    "pivot_root",
    "chroot",
    "unshare",
    "setns",
    "bpf",
    "keyctl",
    "add_key",
    "request_key",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "perf_event_open",
    "userfaultfd",
    "open_by_handle_at",
    "name_to_handle_at",
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "quotactl",
    "syslog",
    "iopl",
    "ioperm",
    "lookup_dcookie",
    "uselib",
];

/// Denied once the Python runtime has started, unless the manifest allows
/// `system:execute`: running another program.
pub const DENIED_EXEC: &[&str] = &["execve", "execveat"];

/// What an extension may touch; everything else is refused by the kernel.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Read (files and listings) beneath each path.
    pub read: Vec<PathBuf>,
    /// Read, create, write, rename and remove beneath each path.
    pub write: Vec<PathBuf>,
    /// Read and execute beneath each path (a file or a folder).
    pub execute: Vec<PathBuf>,
    /// Refuse every TCP bind and connect.
    pub deny_tcp: bool,
    /// A pids cgroup folder the child joins before it runs anything.
    pub cgroup: Option<PathBuf>,
    /// Install the Landlock ruleset (false only where the kernel has none
    /// and the host chose to run degraded).
    pub landlock: bool,
    /// Install the seccomp deny list (likewise).
    pub seccomp: bool,
}

/// A policy made ready in the parent, to be installed in the child.
pub struct Prepared {
    ruleset: Option<RulesetCreated>,
    /// The same ruleset (a second descriptor), for the one rule only the
    /// child can add: the tmpfs it mounts as its work folder.
    ruleset_fd: Option<OwnedFd>,
    filters: Vec<BpfProgram>,
    cgroup_procs: Option<CString>,
}

/// The number of a system call on this platform; None where it lacks one.
fn lookup(name: &str) -> Option<i64> {
    Some(match name {
        "ptrace" => libc::SYS_ptrace,
        "process_vm_readv" => libc::SYS_process_vm_readv,
        "process_vm_writev" => libc::SYS_process_vm_writev,
        "kcmp" => libc::SYS_kcmp,
        "pidfd_getfd" => libc::SYS_pidfd_getfd,
        "mount" => libc::SYS_mount,
        "umount2" => libc::SYS_umount2,
        "move_mount" => libc::SYS_move_mount,
        "open_tree" => libc::SYS_open_tree,
        "fsopen" => libc::SYS_fsopen,
        "fsmount" => libc::SYS_fsmount,
        "fsconfig" => libc::SYS_fsconfig,
        "fspick" => libc::SYS_fspick,
        "mount_setattr" => libc::SYS_mount_setattr,
        "pivot_root" => libc::SYS_pivot_root,
        "chroot" => libc::SYS_chroot,
        "unshare" => libc::SYS_unshare,
        "setns" => libc::SYS_setns,
        "bpf" => libc::SYS_bpf,
        "keyctl" => libc::SYS_keyctl,
        "add_key" => libc::SYS_add_key,
        "request_key" => libc::SYS_request_key,
        "io_uring_setup" => libc::SYS_io_uring_setup,
        "io_uring_enter" => libc::SYS_io_uring_enter,
        "io_uring_register" => libc::SYS_io_uring_register,
        "perf_event_open" => libc::SYS_perf_event_open,
        "userfaultfd" => libc::SYS_userfaultfd,
        "open_by_handle_at" => libc::SYS_open_by_handle_at,
        "name_to_handle_at" => libc::SYS_name_to_handle_at,
        "init_module" => libc::SYS_init_module,
        "finit_module" => libc::SYS_finit_module,
        "delete_module" => libc::SYS_delete_module,
        "kexec_load" => libc::SYS_kexec_load,
        "kexec_file_load" => libc::SYS_kexec_file_load,
        "reboot" => libc::SYS_reboot,
        "swapon" => libc::SYS_swapon,
        "swapoff" => libc::SYS_swapoff,
        "acct" => libc::SYS_acct,
        "quotactl" => libc::SYS_quotactl,
        "syslog" => libc::SYS_syslog,
        "lookup_dcookie" => libc::SYS_lookup_dcookie,
        "execve" => libc::SYS_execve,
        "execveat" => libc::SYS_execveat,
        "clone" => libc::SYS_clone,
        "clone3" => libc::SYS_clone3,
        #[cfg(target_arch = "x86_64")]
        "iopl" => libc::SYS_iopl,
        #[cfg(target_arch = "x86_64")]
        "ioperm" => libc::SYS_ioperm,
        #[cfg(target_arch = "x86_64")]
        "uselib" => libc::SYS_uselib,
        _ => return None,
    })
}

fn arch() -> Result<TargetArch, String> {
    std::env::consts::ARCH
        .try_into()
        .map_err(|e| format!("seccomp does not know this architecture: {e:?}"))
}

/// A filter returning `errno` for each named call (skipping names this
/// platform lacks), everything else allowed.
fn deny(names: &[&str], errno: u32) -> Result<BpfProgram, String> {
    let rules = names
        .iter()
        .filter_map(|n| lookup(n))
        .map(|nr| (nr, Vec::new()))
        .collect();
    compile(rules, errno)
}

fn compile(rules: std::collections::BTreeMap<i64, Vec<SeccompRule>>, errno: u32) -> Result<BpfProgram, String> {
    let filter = SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Errno(errno), arch()?)
        .map_err(|e| format!("cannot build the seccomp filter: {e}"))?;
    BpfProgram::try_from(filter).map_err(|e| format!("cannot compile the seccomp filter: {e}"))
}

/// On x86_64 the x32 calls (numbers with bit 30 set) reach the same kernel
/// code under other numbers, which a deny list by number would miss: they
/// are all refused. seccompiler filters by number, so this one is written
/// by hand: load the number, refuse it from 0x40000000 on, allow the rest.
fn x32_filter() -> Option<BpfProgram> {
    if !cfg!(target_arch = "x86_64") {
        return None;
    }
    const LD_W_ABS: u16 = 0x20;
    const JGE_K: u16 = 0x35;
    const RET_K: u16 = 0x06;
    const X32: u32 = 0x4000_0000;
    let op = |code, jt, jf, k| seccompiler::sock_filter { code, jt, jf, k };
    Some(vec![
        op(LD_W_ABS, 0, 0, 0), // seccomp_data.nr
        op(JGE_K, 0, 1, X32),
        op(RET_K, 0, 0, libc::SECCOMP_RET_ERRNO | libc::EPERM as u32),
        op(RET_K, 0, 0, libc::SECCOMP_RET_ALLOW),
    ])
}

/// `clone` making new namespaces is refused like `unshare`; `clone3` keeps
/// its flags in memory where seccomp cannot read them, so it answers ENOSYS
/// and the C library falls back to `clone`.
fn clone_filters() -> Result<Vec<BpfProgram>, String> {
    let namespaces = [
        libc::CLONE_NEWUSER,
        libc::CLONE_NEWNS,
        libc::CLONE_NEWPID,
        libc::CLONE_NEWNET,
        libc::CLONE_NEWIPC,
        libc::CLONE_NEWUTS,
        libc::CLONE_NEWCGROUP,
    ];
    let mut rules = Vec::new();
    for flag in namespaces {
        let flag = flag as u64;
        let cond = SeccompCondition::new(0, SeccompCmpArgLen::Qword, SeccompCmpOp::MaskedEq(flag), flag)
            .map_err(|e| e.to_string())?;
        rules.push(SeccompRule::new(vec![cond]).map_err(|e| e.to_string())?);
    }
    let mut out = Vec::new();
    if let Some(nr) = lookup("clone") {
        out.push(compile([(nr, rules)].into_iter().collect(), libc::EPERM as u32)?);
    }
    if let Some(nr) = lookup("clone3") {
        out.push(compile([(nr, Vec::new())].into_iter().collect(), libc::ENOSYS as u32)?);
    }
    Ok(out)
}

/// What a writable path grants: everything but running programs and making
/// device nodes.
fn write_access() -> BitFlags<AccessFs> {
    AccessFs::from_all(ABI_USED) & !(AccessFs::Execute | AccessFs::MakeChar | AccessFs::MakeBlock)
}

fn file_rights(dir: bool, rights: BitFlags<AccessFs>) -> BitFlags<AccessFs> {
    if dir {
        rights
    } else {
        rights & AccessFs::from_file(ABI_USED)
    }
}

fn add(ruleset: RulesetCreated, paths: &[PathBuf], rights: BitFlags<AccessFs>) -> Result<RulesetCreated, String> {
    let mut ruleset = ruleset;
    for path in paths {
        let fd = PathFd::new(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let dir = path.is_dir();
        ruleset = ruleset
            .add_rule(PathBeneath::new(fd, file_rights(dir, rights)))
            .map_err(|e| format!("Landlock refused a rule for {}: {e}", path.display()))?;
    }
    Ok(ruleset)
}

impl Policy {
    /// Builds the Landlock ruleset and the seccomp filters; fails, naming
    /// what is missing, where the kernel cannot enforce all of it.
    pub fn prepare(&self) -> Result<Prepared, String> {
        let ruleset = if self.landlock { Some(self.ruleset()?) } else { None };
        let ruleset_fd = match &ruleset {
            Some(r) => r
                .try_clone()
                .map_err(|e| format!("cannot duplicate the ruleset: {e}"))?
                .into(),
            None => None,
        };
        let mut filters = Vec::new();
        if self.seccomp {
            filters.extend(x32_filter());
            filters.push(deny(DENIED, libc::EPERM as u32)?);
            filters.extend(clone_filters()?);
        }
        let cgroup_procs = match &self.cgroup {
            Some(dir) => Some(
                CString::new(dir.join("cgroup.procs").into_os_string().into_encoded_bytes())
                    .map_err(|_| "a NUL byte in the cgroup path".to_string())?,
            ),
            None => None,
        };
        Ok(Prepared {
            ruleset,
            ruleset_fd,
            filters,
            cgroup_procs,
        })
    }

    fn ruleset(&self) -> Result<RulesetCreated, String> {
        let read = AccessFs::ReadFile | AccessFs::ReadDir;
        let write = write_access();
        let execute = read | AccessFs::Execute;
        let mut ruleset = Ruleset::default()
            .set_compatibility(CompatLevel::HardRequirement)
            .handle_access(AccessFs::from_all(ABI_USED))
            .and_then(|r| r.scope(Scope::from_all(ABI_USED)))
            .map_err(|e| format!("Landlock (ABI {LANDLOCK_ABI}) is not available: {e}"))?;
        if self.deny_tcp {
            ruleset = ruleset
                .handle_access(AccessNet::from_all(ABI_USED))
                .map_err(|e| format!("Landlock TCP rules are not available: {e}"))?;
        }
        let mut created = ruleset
            .create()
            .map_err(|e| format!("Landlock (ABI {LANDLOCK_ABI}) is not available: {e}"))?;
        created = add(created, &self.read, read)?;
        created = add(created, &self.write, write)?;
        add(created, &self.execute, execute)
    }
}

impl Prepared {
    /// Moves the calling process into the pids cgroup, first of all (before
    /// a user namespace changes who it is).
    ///
    /// # Safety
    /// To be called in a freshly forked child, before exec.
    pub unsafe fn join_cgroup(&self) -> std::io::Result<()> {
        if let Some(procs) = &self.cgroup_procs {
            // SAFETY: a NUL-terminated path; "0" means the writing process.
            unsafe { crate::spawn::write_file(procs, b"0")? };
        }
        Ok(())
    }

    /// Lets the child write beneath `dir`, a file system it mounted after the
    /// ruleset was made (a rule on the folder it covers does not reach into
    /// the mount). The crate opens paths with allocations, which have no place
    /// between fork and exec: this one rule is added with the raw call.
    ///
    /// # Safety
    /// To be called in a freshly forked child, before exec.
    pub unsafe fn allow_mounted(&self, dir: &std::ffi::CStr) -> std::io::Result<()> {
        let Some(ruleset) = &self.ruleset_fd else { return Ok(()) };
        #[repr(C, packed)]
        struct PathBeneathAttr {
            allowed_access: u64,
            parent_fd: i32,
        }
        // SAFETY: raw calls on a NUL-terminated path and a stack struct.
        unsafe {
            let fd = libc::open(dir.as_ptr(), libc::O_PATH | libc::O_CLOEXEC);
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let attr = PathBeneathAttr {
                allowed_access: write_access().bits(),
                parent_fd: fd,
            };
            let rc = libc::syscall(
                libc::SYS_landlock_add_rule,
                ruleset.as_raw_fd(),
                1u32, // LANDLOCK_RULE_PATH_BENEATH
                &attr as *const PathBeneathAttr,
                0u32,
            );
            libc::close(fd);
            if rc != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    }

    /// Installs Landlock, then seccomp, in the calling process. Only raw
    /// system calls: safe between fork and exec.
    ///
    /// # Safety
    /// To be called in a freshly forked child, before exec.
    pub unsafe fn restrict(&mut self) -> std::io::Result<()> {
        // Errors carry the errno alone: formatting a message would allocate,
        // and the parent only sees the errno.
        if let Some(ruleset) = self.ruleset.take() {
            ruleset.restrict_self().map_err(|_| std::io::Error::last_os_error())?;
        }
        for filter in &self.filters {
            seccompiler::apply_filter(filter).map_err(|_| std::io::Error::last_os_error())?;
        }
        Ok(())
    }
}

/// Forbids running programs from now on, in every thread of this process
/// and its future children: `execve` and `execveat` fail with EPERM.
pub fn deny_exec() -> Result<(), String> {
    let filter = deny(DENIED_EXEC, libc::EPERM as u32)?;
    seccompiler::apply_filter_all_threads(&filter).map_err(|e| format!("seccomp: {e}"))
}

/// What this kernel can enforce.
#[derive(Debug, Clone)]
pub struct Support {
    /// The Landlock ABI the kernel offers (0: none).
    pub landlock_abi: i32,
    /// Whether seccomp filters can be installed.
    pub seccomp: bool,
    /// Where pids cgroups can be made, if anywhere.
    pub pids_cgroup: Option<PathBuf>,
}

/// Probes the running kernel (cheap system calls, no process started).
pub fn support() -> Support {
    // SAFETY: the version query takes no pointer the kernel reads.
    let abi = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            1u32, // LANDLOCK_CREATE_RULESET_VERSION
        )
    };
    // SAFETY: PR_GET_SECCOMP reads this thread's mode; EINVAL means the
    // kernel has no seccomp at all.
    let seccomp = unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) } >= 0;
    Support {
        landlock_abi: abi.max(0) as i32,
        seccomp,
        pids_cgroup: pids_hierarchy(),
    }
}

/// The pids controller's folder this process may make children in: the
/// cgroup v1 hierarchy, or the v2 root where it lists `pids`.
fn pids_hierarchy() -> Option<PathBuf> {
    let v1 = Path::new("/sys/fs/cgroup/pids");
    let v2 = Path::new("/sys/fs/cgroup");
    let candidate = if v1.join("cgroup.procs").exists() {
        v1
    } else if std::fs::read_to_string(v2.join("cgroup.subtree_control"))
        .is_ok_and(|s| s.split_whitespace().any(|c| c == "pids"))
    {
        v2
    } else {
        return None;
    };
    let c = CString::new(candidate.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: a NUL-terminated path.
    (unsafe { libc::access(c.as_ptr(), libc::W_OK) } == 0).then(|| candidate.to_path_buf())
}
