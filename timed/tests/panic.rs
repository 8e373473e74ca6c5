//! A panic in the driver ends the process with exit code 101 and a log line
//! (test builds: `timed --byzantine panic` makes the driver panic a second
//! after start), so a supervisor restarts it; never a process that answers
//! RPC while nothing votes.

#![cfg(feature = "byzantine")]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn a_driver_panic_ends_the_process_with_101_and_says_so() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let data = dir.path().join("dev");
    let mut child = Command::new(env!("CARGO_BIN_EXE_timed"))
        .args(["--dev", "--byzantine", "panic", "--data-dir"])
        .arg(&data)
        .args(["--rpc-listen", "127.0.0.1:0", "--p2p-listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("timed starts");
    // Read the log as it comes, so a full pipe never blocks the node.
    let mut pipe = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut pipe, &mut text).map(|_| text)
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().expect("kill the node left running");
            panic!("timed is still running a minute after its driver panicked");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = reader.join().expect("the reader thread").expect("read stderr");
    assert_eq!(status.code(), Some(101), "{stderr}");
    assert!(stderr.contains("panic") && stderr.contains("exiting with code 101"), "{stderr}");
}
