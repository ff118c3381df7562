//! Runs: one at a time per store (a mutex in the process, a file lock
//! across processes), archive before removal, and a periodic thread.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pit_artifacts::{Hash, Removal, Store};

use crate::archive::Archive;
use crate::plan::{Plan, Verdict, plan};
use crate::policy::{Action, Policy};
use crate::{Result, StaleError};

/// Seconds a file the index does not name must have lain untouched before
/// a run deletes it: a put writes its file before it records it.
const ORPHAN_AGE: f64 = 60.0;

/// A source of hashes that must be kept (a live DAG's artifacts).
pub type Roots = Box<dyn Fn() -> Result<Vec<Hash>> + Send + Sync>;

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub archived: usize,
    pub deleted: usize,
    pub kept: usize,
    /// Planned to go, but kept: a put, ref or pin reached them during the run.
    pub spared: usize,
    /// Files in `objects/` the index did not name (failed puts), deleted.
    pub orphans: usize,
    /// Could not be archived, so kept: hash and why.
    pub failed: Vec<(Hash, String)>,
    pub freed_bytes: u64,
    pub seconds: f64,
    pub plan: Plan,
}

pub struct StaleManager {
    store: Arc<Store>,
    policy: Policy,
    archive: Option<Arc<dyn Archive>>,
    roots: Vec<Roots>,
    running: Mutex<()>,
    lock_path: PathBuf,
}

/// Held while a run goes on: the mutex for this process, the file lock for
/// the others. Dropping it releases both.
struct RunLock<'a> {
    _inner: MutexGuard<'a, ()>,
    _file: File,
}

impl StaleManager {
    /// A manager of `store` under `policy`; `archive` is needed when the
    /// policy archives, and is where `restore` looks.
    pub fn new(store: Arc<Store>, policy: Policy, archive: Option<Arc<dyn Archive>>) -> Result<StaleManager> {
        policy.check()?;
        if policy.action == Action::Archive && archive.is_none() {
            return Err(StaleError::Policy(
                "the policy archives what it lets go, but no archive was given (give one, or set action to delete)"
                    .into(),
            ));
        }
        let lock_path = store.root().join("stale.lock");
        Ok(StaleManager {
            store,
            policy,
            archive,
            roots: Vec::new(),
            running: Mutex::new(()),
            lock_path,
        })
    }

    /// Adds a source of roots, asked at every plan.
    pub fn add_roots(&mut self, roots: Roots) {
        self.roots.push(roots);
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The dry run: what a run now would keep, archive and delete, and why.
    pub fn plan(&self) -> Result<Plan> {
        let mut roots = Vec::new();
        for source in &self.roots {
            roots.extend(source()?);
        }
        let mut tags: Vec<&str> = self.policy.keep_tags.iter().map(String::as_str).collect();
        tags.push(&self.policy.training_tag);
        let snap = self.store.snapshot(&tags)?;
        Ok(plan(&snap, &self.policy, &roots))
    }

    /// Plans and carries the plan out, waiting for a run in progress (here
    /// or in another process) to end first.
    pub fn run(&self) -> Result<Report> {
        let lock = self.lock(true)?.expect("a blocking lock is had");
        self.run_locked(lock)
    }

    /// As `run`, but `None` at once when a run is in progress.
    pub fn try_run(&self) -> Result<Option<Report>> {
        match self.lock(false)? {
            Some(lock) => self.run_locked(lock).map(Some),
            None => Ok(None),
        }
    }

    fn lock(&self, wait: bool) -> Result<Option<RunLock<'_>>> {
        let inner = if wait {
            self.running.lock().unwrap_or_else(|p| p.into_inner())
        } else {
            match self.running.try_lock() {
                Ok(g) => g,
                Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => return Ok(None),
            }
        };
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock_path)
            .map_err(|e| StaleError::Archive(format!("{}: {e}", self.lock_path.display())))?;
        let flags = if wait {
            libc::LOCK_EX
        } else {
            libc::LOCK_EX | libc::LOCK_NB
        };
        // SAFETY: flock on a descriptor this function owns.
        if unsafe { libc::flock(file.as_raw_fd(), flags) } != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
                return Ok(None);
            }
            return Err(StaleError::Archive(format!("{}: {e}", self.lock_path.display())));
        }
        Ok(Some(RunLock {
            _inner: inner,
            _file: file,
        }))
    }

    fn run_locked(&self, _lock: RunLock<'_>) -> Result<Report> {
        let start = Instant::now();
        let plan = self.plan()?;
        let mut failed = Vec::new();
        let mut removals = Vec::new();
        for d in plan.removals() {
            if d.verdict == Verdict::Archive {
                let archive = self.archive.as_ref().expect("checked at construction");
                // Checked first: an archive never keeps damaged bytes in
                // place of the only good copy.
                let kept = self
                    .store
                    .check(&d.hash)
                    .and_then(|()| self.store.stored(&d.hash))
                    .map_err(StaleError::from)
                    .and_then(|(stored, encoding, info)| archive.put(&d.hash, &stored, encoding, &info));
                if let Err(e) = kept {
                    failed.push((d.hash, e.to_string()));
                    continue;
                }
            }
            removals.push(Removal {
                hash: d.hash,
                action: d.verdict.name().to_owned(),
                rule: d.rule.name().to_owned(),
            });
        }
        let removed = self.store.remove(&removals, plan.seq)?;
        let gone: std::collections::HashSet<Hash> = removed.iter().copied().collect();
        let mut report = Report {
            failed,
            ..Report::default()
        };
        for d in &plan.decisions {
            if gone.contains(&d.hash) {
                report.freed_bytes += d.stored_size;
                match d.verdict {
                    Verdict::Archive => report.archived += 1,
                    _ => report.deleted += 1,
                }
            } else {
                report.kept += 1;
            }
        }
        report.spared = removals.len() - removed.len();
        report.orphans = self.store.sweep_orphans(self.policy.grace.max(ORPHAN_AGE))?;
        report.seconds = start.elapsed().as_secs_f64();
        report.plan = plan;
        Ok(report)
    }

    /// Puts an archived artifact back in the store, with its record.
    pub fn restore(&self, hash: &Hash) -> Result<()> {
        let archive = self
            .archive
            .as_ref()
            .ok_or_else(|| StaleError::NotArchived("this manager has no archive".into()))?;
        let (bytes, encoding, info) = archive.get(hash)?;
        if info.hash != *hash {
            return Err(StaleError::Archive(format!(
                "the archive's record for {hash} names {}",
                info.hash
            )));
        }
        self.store.restore(bytes, encoding, &info)?;
        Ok(())
    }
}

/// Runs a manager every `interval` on a thread of its own until stopped. A
/// tick that finds a run in progress (here or in another process) skips.
pub struct Periodic {
    stop: Arc<(Mutex<bool>, Condvar)>,
    handle: Option<JoinHandle<()>>,
    runs: Arc<AtomicU64>,
    last: Arc<Mutex<Option<std::result::Result<Report, String>>>>,
}

impl Periodic {
    pub fn start(manager: Arc<StaleManager>, interval: Duration) -> Periodic {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let runs = Arc::new(AtomicU64::new(0));
        let last = Arc::new(Mutex::new(None));
        let handle = {
            let (stop, runs, last) = (stop.clone(), runs.clone(), last.clone());
            std::thread::Builder::new()
                .name("stale-manager".into())
                .spawn(move || {
                    loop {
                        {
                            let (flag, cv) = &*stop;
                            let guard = flag.lock().unwrap_or_else(|p| p.into_inner());
                            let (guard, _) = cv
                                .wait_timeout_while(guard, interval, |stopped| !*stopped)
                                .unwrap_or_else(|p| p.into_inner());
                            if *guard {
                                return;
                            }
                        }
                        match manager.try_run() {
                            Ok(Some(report)) => {
                                runs.fetch_add(1, Ordering::Relaxed);
                                *last.lock().unwrap_or_else(|p| p.into_inner()) = Some(Ok(report));
                            }
                            Ok(None) => {}
                            Err(e) => {
                                *last.lock().unwrap_or_else(|p| p.into_inner()) = Some(Err(e.to_string()));
                            }
                        }
                    }
                })
                .expect("a thread can be started")
        };
        Periodic {
            stop,
            handle: Some(handle),
            runs,
            last,
        }
    }

    /// Completed runs so far.
    pub fn runs(&self) -> u64 {
        self.runs.load(Ordering::Relaxed)
    }

    /// The last run's report, or its error.
    pub fn last(&self) -> Option<std::result::Result<Report, String>> {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn is_running(&self) -> bool {
        self.handle.is_some()
    }

    /// Asks the thread to stop, without waiting: it ends after the run in
    /// progress, if any. For a caller that must not block (a destructor
    /// holding a lock the run may need).
    pub fn signal_stop(mut self) {
        self.signal();
        drop(self.handle.take());
    }

    fn signal(&self) {
        let (flag, cv) = &*self.stop;
        *flag.lock().unwrap_or_else(|p| p.into_inner()) = true;
        cv.notify_all();
    }

    /// Asks the thread to stop and waits for it (a run in progress ends first).
    pub fn stop(&mut self) {
        self.signal();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Periodic {
    fn drop(&mut self) {
        self.stop();
    }
}
