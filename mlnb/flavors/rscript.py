"""R from Python: one-shot ``Rscript`` programs, and a persistent worker that scores DataFrames.

The worker is one ``Rscript`` process per loaded model. It reads the model once, then answers
requests on its stdin and stdout, framed by a header line giving the payload's length in bytes:

    request:   PREDICT <n>\\n<n bytes of CSV>
    answer:    OK frame|vector <n>\\n<n bytes of CSV>      or      ERR <n>\\n<n bytes of R's message>

Frames travel as CSV (base R has no Arrow reader): pandas writes floats with ``repr`` and R reads
them with ``strtod``; R writes numbers with 17 significant digits; so doubles cross exactly both
ways. Whatever the R function prints goes to the worker's stderr, never into the answer.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
import weakref
from typing import Any

from mlnb.errors import MissingDependencyError, PredictionError

DEBIAN_PACKAGE = "r-base-core"

# The worker: loads crate.bin (MLflow's R format: saveRDS of serialize(<function>)), then serves.
WORKER = r"""
model_path <- commandArgs(trailingOnly = TRUE)[1]
out <- stdout()
reply <- function(status, text) {
  cat(status, " ", nchar(text, type = "bytes"), "\n", text, sep = "", file = out)
  flush(out)
}
as_csv <- function(x) {
  x <- as.data.frame(x, stringsAsFactors = FALSE, optional = TRUE)
  for (i in seq_along(x)) {
    col <- x[[i]]
    if (is.factor(col)) x[[i]] <- as.character(col)
    else if (is.double(col)) x[[i]] <- ifelse(is.na(col), NA, sprintf("%.17g", col))
  }
  paste(utils::capture.output(utils::write.csv(x, row.names = FALSE, na = "NA")), collapse = "\n")
}
model <- tryCatch(unserialize(readRDS(model_path)), error = function(e) e)
if (inherits(model, "error")) {
  reply("ERR", paste("cannot read the crate:", conditionMessage(model)))
  quit(status = 1)
}
if (!is.function(model)) {
  reply("ERR", paste("the crate holds a", class(model)[1], "not a function"))
  quit(status = 1)
}
cat("READY\n", file = out); flush(out)
con <- file("stdin", "rb")
repeat {
  header <- readLines(con, n = 1)
  if (length(header) == 0 || header == "QUIT") break
  payload <- readChar(con, as.integer(sub("^PREDICT ", "", header)), useBytes = TRUE)
  data <- utils::read.csv(text = payload, check.names = FALSE, stringsAsFactors = FALSE)
  answer <- NULL
  printed <- utils::capture.output(answer <- tryCatch({
    value <- do.call(model, list(data))
    kind <- if (is.data.frame(value) || is.matrix(value)) "frame" else "vector"
    list(status = paste("OK", kind), text = as_csv(if (kind == "vector") list(value) else value))
  }, error = function(e) list(status = "ERR", text = conditionMessage(e))))
  if (length(printed)) cat(printed, sep = "\n", file = stderr())
  reply(answer$status, answer$text)
}
"""


def rscript() -> str:
    """The path of ``Rscript``, or MissingDependencyError naming the Debian package to install."""
    found = shutil.which("Rscript")
    if found is None:
        raise MissingDependencyError(
            f"R is not installed (no Rscript on PATH): install Debian's {DEBIAN_PACKAGE} "
            f"(apt-get install {DEBIAN_PACKAGE}).")
    return found


def run(program: str, *args: str, what: str) -> None:
    """Run a one-shot R ``program`` with ``args``; a failure raises PredictionError with R's message."""
    done = subprocess.run([rscript(), "--vanilla", "-e", program, *args],
                          capture_output=True, text=True)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip() and line.strip() != "Execution halted"]
        message = " ".join(lines).removeprefix("Error: ").strip() or f"Rscript exited with {done.returncode}"
        raise PredictionError(f"{what} failed in R: {message}")


class Worker:
    """A persistent ``Rscript`` process holding one model; ``predict`` sends it a DataFrame."""

    def __init__(self, model_file: str) -> None:
        self._model_file = model_file
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._stderr: Any = None
        self._finalizer: weakref.finalize | None = None
        self._start()

    def _start(self) -> None:
        self._stderr = tempfile.TemporaryFile()
        self._proc = subprocess.Popen([rscript(), "--vanilla", "-e", WORKER, self._model_file],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr)
        self._finalizer = weakref.finalize(self, _stop, self._proc, self._stderr)
        first = self._proc.stdout.readline()
        if first != b"READY\n":
            status, text = self._answer(first)
            self.close()
            raise PredictionError(f"The R worker could not load the model: {text}")

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def _answer(self, header: bytes) -> tuple[str, str]:
        parts = header.decode("utf-8", "replace").split()
        if len(parts) < 2 or not parts[-1].isdigit():
            return "DEAD", self._tail()
        text = self._proc.stdout.read(int(parts[-1])).decode("utf-8", "replace")
        return " ".join(parts[:-1]), text

    def _tail(self) -> str:
        self._stderr.seek(0)
        lines = self._stderr.read().decode("utf-8", "replace").strip().splitlines()
        return " ".join(lines[-5:]) or "the R process exited"

    def predict(self, frame) -> Any:
        """The R function's answer for ``frame``: a DataFrame (data.frame, matrix) or a 1-d array (vector)."""
        import io

        import pandas as pd

        payload = frame.to_csv(index=False).encode("utf-8")
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self.close()
                self._start()
            try:
                self._proc.stdin.write(b"PREDICT %d\n" % len(payload) + payload)
                self._proc.stdin.flush()
                status, text = self._answer(self._proc.stdout.readline())
            except (BrokenPipeError, OSError):
                status, text = "DEAD", self._tail()
        if status == "ERR":
            raise PredictionError(f"The R function failed: {text}")
        if status == "DEAD":
            self.close()
            raise PredictionError(f"The R worker died while predicting: {text}")
        result = pd.read_csv(io.StringIO(text)) if text.strip() else pd.DataFrame()
        if status == "OK vector":
            return result.iloc[:, 0].to_numpy()
        return result

    def close(self) -> None:
        """Stop the R process (also done when the worker is garbage-collected or Python exits)."""
        if self._finalizer is not None:
            self._finalizer()
        self._proc = None


def _stop(proc: subprocess.Popen, stderr) -> None:
    if proc.poll() is None:
        try:
            proc.stdin.write(b"QUIT\n")
            proc.stdin.close()
            proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
    for stream in (proc.stdout, proc.stdin):
        try:
            stream.close()
        except OSError:
            pass
    stderr.close()

