//! The extension's own output: a worker's standard output and error are drained here into
//! bounded line buffers and handed on line by line. They are never read as protocol, and
//! they are never progress.

use std::io::Read;
use std::sync::Arc;

/// The longest line kept whole; a longer one is handed on in pieces of this size.
pub const MAX_LINE: usize = 64 << 10;

/// Where the extension's output lines go.
pub type OutputFn = Arc<dyn Fn(&str) + Send + Sync>;

/// Reads `src` to its end, calling `each` per line (without its line break); memory stays
/// within [`MAX_LINE`] whatever the extension writes.
pub fn drain(mut src: impl Read, each: &OutputFn) {
    let mut line: Vec<u8> = Vec::with_capacity(256);
    let mut chunk = [0u8; 8192];
    loop {
        let n = match src.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        for &b in &chunk[..n] {
            if b == b'\n' {
                emit(&mut line, each);
            } else {
                line.push(b);
                if line.len() >= MAX_LINE {
                    emit(&mut line, each);
                }
            }
        }
    }
    if !line.is_empty() {
        emit(&mut line, each);
    }
}

fn emit(line: &mut Vec<u8>, each: &OutputFn) {
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    each(&String::from_utf8_lossy(line));
    line.clear();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn lines_are_split_and_a_huge_line_is_bounded() {
        let seen = Arc::new(Mutex::new(Vec::<usize>::new()));
        let s = seen.clone();
        let each: OutputFn = Arc::new(move |l: &str| s.lock().unwrap().push(l.len()));
        let mut input = b"one\r\ntwo\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', MAX_LINE * 3 + 5));
        drain(&input[..], &each);
        assert_eq!(
            *seen.lock().unwrap(),
            vec![3, 3, MAX_LINE, MAX_LINE, MAX_LINE, 5]
        );
    }
}
