//! Files written whole beside their final path and renamed into place (`summary.json`,
//! `report.html`, JUnit XML, cache entries, the scripts handed to Node), so a reader never sees
//! half of one.
//!
//! `tempfile` creates its files with mode 0600 (private), and the rename keeps that mode; an
//! output file must instead get the mode of a file created plainly (0666 less the umask, 0644
//! usually), so that an artifact uploader, another user of a container or a later CI step run as
//! another user can read it. None of these files holds a secret: everything aigne-ci writes is
//! masked first, and its other outputs (`results.jsonl`, transcripts, a `--record` cassette) are
//! created plainly and follow the umask already.

use std::path::Path;

/// A temporary file in `folder` created with the mode a plainly created file gets (0666 less the
/// umask) instead of `tempfile`'s 0600; `persist` it onto the final path.
pub fn temporary_in(folder: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // `open(2)` applies the umask to this mode, as it does for `File::create`.
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder.tempfile_in(folder)
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_temporary_file_gets_the_mode_of_a_plain_one() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        fs_err::write(&plain, "x").unwrap();
        let temporary = super::temporary_in(dir.path()).unwrap();
        let persisted = dir.path().join("persisted");
        temporary.persist(&persisted).unwrap();
        let mode = |path: &std::path::Path| fs_err::metadata(path).unwrap().permissions().mode();
        assert_eq!(mode(&persisted) & 0o777, mode(&plain) & 0o777);
    }
}
