"""A step's SQL runs in a child process of its own, which the worker can always stop.

DuckDB's ``memory_limit`` covers its buffer manager, not every allocation: a query as short as
``SELECT lpad('x', 1000000000, 'y')`` or ``SELECT list_resize([1], 3000000000)`` builds one
value outside it (gigabytes, enough for the kernel to kill the server), and does so without
looking at ``interrupt()``, so it also outlives the step's timeout. Inside the server's own
process neither can be stopped. In a child process both can: the parent watches the child's
resident memory and kills it past ``hard_memory_cap``, and an interrupt (timeout or cancel)
kills it outright.

Children are started ahead of time and reused (``ReadyProcesses``): starting Python and
importing DuckDB costs far more CPU than a small step, and every step would pay it. Each
step gets a fresh in-memory DuckDB of its own, so nothing a step did can be seen by the next;
a child that was stopped, served ``MAX_STEPS`` steps or is still larger than ``RECYCLE_BYTES``
once it has let go of its last step's database is ended (right after a large step it still
holds that step's memory, which closing the database gives back).
The protocol is pickles over the child's stdin and stdout: ``"ready"``, then for each job one
``SqlJob`` (or ``BindJob``) in, one ``("ok", result)`` or ``("error", exception)`` out and,
once the child has closed that job's database and made the next one, ``"ready"`` again.
"""

from __future__ import annotations

import atexit
import os
import pickle
import queue
import re
import select
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:  # this module is imported to start children early, before DuckDB
    from headrace.domain.checks import CheckQuery, CheckResult
    from headrace.domain.pipeline import Step
    from headrace.execution.binding import Binding
    from headrace.execution.sandbox import SandboxLimits, StepInput

POLL_SECONDS = 0.05
BOOT_SECONDS = 30  # a step waits this long for a child already booting, then starts its own
RECYCLE_BYTES = 512 * 1024**2  # a child this large after a step is not reused
MAX_STEPS = 200  # nor one that has served this many (slow leaks stay bounded)
_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
# The child's environment: enough to start Python, nothing of the server's secrets.
_ENVIRONMENT = ("PATH", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV")


@dataclass(frozen=True)
class SqlJob:
    """Everything the child needs: the SQL, the pinned inputs, where each output goes."""

    query: str
    inputs: dict[str, StepInput]
    folders: dict[str, str]  # output name -> its fresh write folder
    limits: SandboxLimits
    spill: str
    parameters: dict[str, Any] = field(default_factory=dict)  # $name -> typed value
    checks: tuple[CheckQuery, ...] = ()  # run on the written outputs (execution/checks.py)


@dataclass(frozen=True)
class SqlResult:
    """What the child answers for a job that ran: the RETURN_STATS rows of each output's
    COPY, and the result of each check."""

    copies: dict[str, list[tuple[Any, ...]]]
    checks: list[CheckResult] = field(default_factory=list)


@dataclass(frozen=True)
class BindJob:
    """A version being saved, to bind (``execution/binding.py``): DuckDB folds constant
    expressions while it binds, and a constant can be built as large as a step's value
    (``lpad('x', 1000000000, 'y')``), so binding too runs where it can be stopped."""

    steps: list[Step]
    order: list[str]
    existing: dict[str, list[tuple[str, str]]]
    parameters: dict[str, Any]
    limits: SandboxLimits


class StepTimedOut(Exception):
    """The step was still running at its deadline, and its process was ended."""


class StepProcessDied(RuntimeError):
    """The child ended without an answer, and not because the worker stopped it."""


def parse_bytes(text: str) -> int:
    """``"4GB"``, ``"512 MiB"``, ``"1000000"`` as bytes (DuckDB's units: KB = 1000)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if match is None or match.group(2).lower() not in _UNITS:
        raise ValueError(f"not a size: {text!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def hard_memory_cap(limits: SandboxLimits) -> int:
    """Resident memory past which the child is killed: twice DuckDB's own limit (which it
    overshoots a little by design) plus the interpreter and its libraries."""
    return 2 * parse_bytes(limits.memory_limit) + 512 * 1024**2


def _resident_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return 0  # gone, or no /proc: the exit is seen on the pipe


class StepProcess:
    """One child process, started now, serving ``SqlJob``s one at a time."""

    def __init__(self) -> None:
        env = {k: os.environ[k] for k in _ENVIRONMENT if k in os.environ}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "headrace.execution.step_process"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        self._stopped = False  # ended by us: timeout, cancel, memory
        self._settling = False  # a job answered, its "ready" not read yet
        self.steps = 0

    def wait_ready(self) -> None:
        """Read the child's next ``"ready"``: once it has booted, and after each job once it
        has closed that job's database; StepProcessDied when it ended instead."""
        assert self.proc.stdout is not None
        try:
            message = pickle.load(self.proc.stdout)
        except EOFError:
            message = None
        if message != "ready":
            self.proc.kill()
            raise StepProcessDied(f"a step process did not get ready (exit {self.proc.wait()})")
        self._settling = False

    def interrupt(self) -> None:
        """Stop the step now, whatever it is doing (``Interrupt.fire`` calls this)."""
        self._stopped = True
        self.proc.kill()

    def discard(self) -> None:
        self.proc.kill()
        self.proc.wait()

    def reusable(self) -> bool:
        """Whether to keep it for another step: not stopped, alive, not worn out (its size is
        judged by ``settled``, once it no longer holds the last step's database)."""
        return not self._stopped and self.proc.poll() is None and self.steps < MAX_STEPS

    def settled(self) -> bool:
        """Wait until the child has let go of its last job's database; whether it is small
        enough to serve another (StepProcessDied when it ended instead)."""
        if self._settling:
            self.wait_ready()
        return _resident_bytes(self.proc.pid) < RECYCLE_BYTES

    def run(self, job: SqlJob, deadline: float | None = None) -> SqlResult:
        """The written outputs and the checks' results (see ``_ask`` for its errors)."""
        result: SqlResult = self._ask(job, deadline)
        return result

    def bind(self, job: BindJob, deadline: float | None = None) -> Binding:
        """What binding the version found (see ``_ask`` for its errors)."""
        result: Binding = self._ask(job, deadline)
        return result

    def _ask(self, job: SqlJob | BindJob, deadline: float | None) -> Any:
        """The child's answer to ``job``; DuckDB's own exception when the SQL
        failed,
        ``duckdb.InterruptException`` when ``interrupt()`` stopped it,
        ``duckdb.OutOfMemoryException`` when it passed ``hard_memory_cap``, ``StepTimedOut``
        when it was still running at ``deadline`` (``time.monotonic()``). DuckDB is imported
        only to raise one of its errors: a worker whose steps succeed never loads it."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        if self._settling:  # asked again without being taken from the pool again
            self.wait_ready()
        cap = hard_memory_cap(job.limits)
        self.steps += 1
        try:
            pickle.dump(job, self.proc.stdin)
            self.proc.stdin.flush()
            while True:
                readable, _, _ = select.select([self.proc.stdout], [], [], POLL_SECONDS)
                if readable:
                    kind, value = pickle.load(self.proc.stdout)
                    self._settling = True
                    if kind == "ok":
                        return value
                    raise value
                if deadline is not None and time.monotonic() > deadline:
                    self.interrupt()
                    raise StepTimedOut
                if _resident_bytes(self.proc.pid) > cap:
                    # Marked first: a killed child dies only once its memory is freed, and
                    # until then it looks alive to ``reusable()``.
                    self._stopped = True
                    self.proc.kill()
                    import duckdb

                    raise duckdb.OutOfMemoryException(
                        f"the step used more than {cap // 1024**2} MiB of memory (its "
                        f"memory limit is {job.limits.memory_limit}) and was stopped"
                    )
                if self.proc.poll() is not None:
                    raise EOFError
        except (EOFError, BrokenPipeError, pickle.UnpicklingError) as err:
            if self._stopped:
                import duckdb

                raise duckdb.InterruptException("the step was stopped") from err
            code = self.proc.wait()
            raise StepProcessDied(
                f"the step's process ended without an answer (exit {code})"
            ) from err


class ReadyProcesses:
    """Children ready for a job: ``size`` of them, counting those out running a step (they
    come back after it), refilled by a background thread that starts with ``start()`` or the
    first step taken (a process that never runs a step starts none). A child that does not
    come back (ended, stopped, too large) is replaced. One per process (the ``Runtime``'s):
    children are not tied to any limits or settings. Once closed, each step gets a child of
    its own, ended after it (``keeping_none``: an Argo pod runs one step)."""

    def __init__(self, size: int = 2) -> None:
        self._size = size
        self._ready: queue.Queue[StepProcess] = queue.Queue(maxsize=size)
        self._out = 0  # taken and not given back yet
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._booting: StepProcess | None = None
        self._changed = threading.Event()  # one was taken or given back: look again
        self._lock = threading.Lock()
        atexit.register(self.close)

    @classmethod
    def keeping_none(cls) -> ReadyProcesses:
        """A pool that keeps no child ready: each step gets one of its own, ended after it
        (an Argo pod runs one step)."""
        pool = cls()
        pool.close()
        return pool

    def start(self) -> None:
        """Begin keeping children ready (once). ``headrace run`` calls it first thing, so
        its children boot while the parent is still importing and loading sources."""
        with self._lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._fill, name="headrace-step-processes", daemon=True
                )
                self._thread.start()

    def take(self) -> StepProcess:
        """A started child: a ready one when there is one, else one started now."""
        self.start()
        with self._lock:
            self._out += 1
        self._changed.set()
        deadline = time.monotonic() + BOOT_SECONDS
        while True:
            with self._lock:
                booting = self._booting is not None
            try:
                # One on its way is sooner than one started now, which would compete with it,
                # unless another step gets it first: then none is on its way for this one.
                waiting = (
                    self._ready.get(timeout=POLL_SECONDS) if booting else self._ready.get_nowait()
                )
            except queue.Empty:
                if booting and time.monotonic() < deadline:
                    continue
                break
            try:
                if waiting.proc.poll() is None and waiting.settled():
                    return waiting
            except StepProcessDied:
                pass
            # It ended while it waited (killed from outside, e.g. by the kernel when memory
            # ran short): a step given it would fail at once on a broken pipe. Or it is still
            # large once it has closed its last step's database.
            waiting.discard()
        child = StepProcess()
        child.wait_ready()
        return child

    def give_back(self, child: StepProcess) -> None:
        """Keep ``child`` for a later step when it is still healthy, else end it."""
        try:
            if self._stop.is_set() or not child.reusable():
                child.discard()
            else:
                try:
                    self._ready.put_nowait(child)
                except queue.Full:
                    child.discard()
        finally:
            # Only now: counted neither out nor ready in between, it would look missing and
            # the filling thread would boot a surplus child.
            with self._lock:
                self._out -= 1
            self._changed.set()

    def _short(self) -> bool:
        with self._lock:
            return self._ready.qsize() + self._out < self._size

    def _fill(self) -> None:
        """Boot a child whenever fewer than ``size`` are ready or out, one at a time (never
        one more: each costs memory and CPU to start)."""
        while not self._stop.is_set():
            self._changed.clear()
            if not self._short():
                self._changed.wait()
                continue
            try:
                child = StepProcess()
                with self._lock:
                    self._booting = child
                child.wait_ready()
            except (OSError, StepProcessDied):
                with self._lock:
                    self._booting = None
                self._stop.wait(1)  # e.g. out of processes: try again later
                continue
            try:
                if self._stop.is_set():
                    child.discard()
                    return
                try:
                    self._ready.put_nowait(child)
                except queue.Full:  # a child given back took the place
                    child.discard()
            finally:
                # Only once it is ready to take: a step that saw none booting and none ready
                # in between would start a surplus child.
                with self._lock:
                    self._booting = None

    def close(self) -> None:
        """Stop refilling and end the waiting children (and one still booting: an exit
        does not wait for it)."""
        self._stop.set()
        self._changed.set()
        with self._lock:
            if self._booting is not None:
                self._booting.proc.kill()
        if self._thread is not None:
            self._thread.join(timeout=10)
        while True:
            try:
                self._ready.get_nowait().discard()
            except queue.Empty:
                return


# --- the child ---------------------------------------------------------------------------


def _send(out: IO[bytes], message: object) -> None:
    data = pickle.dumps(message)  # whole before writing: a failure sends nothing
    out.write(data)
    out.flush()


def _exit_with_parent(parent: int) -> None:
    """A worker killed mid-step leaves no step running behind it."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _child() -> None:
    from headrace.execution.binding import bind_version
    from headrace.execution.checks import run_checks
    from headrace.execution.sandbox import fresh_connection, open_sandbox, write_outputs

    # By its module's name, not ``__main__``'s: the worker unpickles it from there.
    from headrace.execution.step_process import BindJob as Bind
    from headrace.execution.step_process import SqlResult as Answer

    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed goes to stderr, never into the protocol
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    con = fresh_connection()  # made before the job arrives, off its critical path
    _send(out, "ready")
    while True:
        try:
            job: SqlJob | BindJob = pickle.load(sys.stdin.buffer)
        except EOFError:
            # The worker is done with us. Skip interpreter finalisation: DuckDB's threads may
            # abort it (SIGABRT).
            os._exit(0)
        if isinstance(job, Bind):
            try:
                bound = bind_version(
                    job.steps, job.order, job.existing, job.parameters, job.limits.memory_limit
                )
                _send(out, ("ok", bound))
            except Exception as err:
                _send(out, ("error", RuntimeError(f"{type(err).__name__}: {err}")))
            _send(out, "ready")
            continue
        try:
            con = open_sandbox(con, job.inputs, list(job.folders.values()), job.limits, job.spill)
            copies = write_outputs(
                con, job.query, job.folders, job.limits.output_max_bytes, job.parameters
            )
            checks = []
            if job.checks:
                con.close()  # its memory is the checks' now
                files = {name: [str(row[0]) for row in rows] for name, rows in copies.items()}
                checks = run_checks(job.checks, files, job.limits, job.spill)
            message: tuple[str, object] = ("ok", Answer(copies, checks))
        except Exception as err:  # sent back and raised in the worker
            message = ("error", err)
        try:
            _send(out, message)
        except (pickle.PicklingError, TypeError, AttributeError):
            _send(out, ("error", RuntimeError(f"{type(message[1]).__name__}: {message[1]}")))
        # After the answer, while the worker records the step: neither is the step's time.
        con.close()
        con = fresh_connection()
        _send(out, "ready")  # its memory is no longer the step's


if __name__ == "__main__":
    _child()
