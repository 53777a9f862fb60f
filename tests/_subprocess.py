"""Run code that may kill the interpreter somewhere it cannot take pytest with it.

A segfault in a compiled kernel, an abort inside libgomp or an endless loop
would end (or stall) the whole test run if it happened in the pytest process.
Here such code runs in a child process, and what happened comes back as an
:class:`Outcome`: the exit status (a negative one is the signal that killed
the child, e.g. -11 for SIGSEGV), whether it ran past its time limit, and its
output. A test then fails with that report instead of the run dying.

Two entry points:

``run_python(code)``
    One fresh interpreter per call (``subprocess.run([sys.executable, "-c",
    code])``). Simple, but each call pays the import of NumPy, SciPy,
    scikit-learn and recfreq (about a second).

``run_cases(cases, setup=...)``
    Many cases for the price of one import: a child process imports and runs
    ``setup`` once (it must start no OpenMP or other threads of its own), then
    forks a fresh grandchild per case. A case that crashes or hangs kills only
    its grandchild; the child records the outcome of each case and carries on.

In both, the child imports recfreq from the same place as the test process
(the editable checkout, or a bounds-checked tree on ``PYTHONPATH``), so the
build under test is the one that runs. An address-space limit
(``resource.setrlimit(RLIMIT_AS, ...)``) can be set per case: it makes
failures that need a lot of memory, such as creating thousands of threads,
happen on any machine.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass

import recfreq

__all__ = ["Case", "Outcome", "run_python", "run_cases", "child_env"]

#: Directory holding this file: the child imports the tests' helpers from it.
TESTS_DIR = os.path.dirname(os.path.abspath(__file__))

#: Directory holding the recfreq package the tests import (the child must test the same build).
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(recfreq.__file__)))


@dataclass
class Case:
    """One piece of code to run in isolation.

    Attributes
    ----------
    name : str
    code : str
        Python source; it runs after the shared setup. It passes by returning
        normally and fails by raising (an AssertionError, say).
    timeout : float
        Seconds before the case is killed and reported as hung.
    address_space : int or None
        Bytes of virtual memory the case may map (``RLIMIT_AS``); None: no limit.
    """

    name: str
    code: str
    timeout: float = 60.0
    address_space: int | None = None


@dataclass
class Outcome:
    """What happened to one case.

    ``returncode`` is 0 for a pass, 1 for an exception the case raised, and
    ``-N`` when signal N killed it (-11 SIGSEGV, -6 SIGABRT, -9 SIGKILL).
    """

    returncode: int
    timed_out: bool
    stdout: str
    stderr: str

    @property
    def ok(self):
        return self.returncode == 0 and not self.timed_out

    def describe(self):
        """One report for a failed assertion: how it ended, then the tail of stderr and stdout."""
        if self.timed_out:
            head = "hung: killed after its time limit"
        elif self.returncode < 0:
            try:
                name = signal.Signals(-self.returncode).name
            except ValueError:
                name = "unknown signal"
            head = f"killed by signal {-self.returncode} ({name}), exit status {self.returncode}"
        else:
            head = f"exit status {self.returncode}"
        # the list of loaded extension modules faulthandler prints says nothing about the crash
        stderr = "\n".join(line for line in self.stderr.splitlines() if not line.startswith("Extension modules:"))
        return f"{head}\n--- stderr (tail) ---\n{stderr[-4000:]}\n--- stdout (tail) ---\n{self.stdout[-2000:]}"


def child_env():
    """The environment of a child: this process's, with the tested recfreq first on the path."""
    env = dict(os.environ)
    paths = [PACKAGE_ROOT, TESTS_DIR] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    # a crash report names the Python line that was running
    env["PYTHONFAULTHANDLER"] = "1"
    return env


_PROLOGUE = """\
import resource as _resource
_resource.setrlimit(_resource.RLIMIT_CORE, (0, 0))
"""
_LIMIT_PROLOGUE = """\
_resource.setrlimit(_resource.RLIMIT_AS, ({limit}, {limit}))
"""


def run_python(code, *, timeout=120.0, address_space=None):
    """Run ``code`` in a fresh interpreter and return its :class:`Outcome`."""
    source = textwrap.dedent(code)
    if address_space is not None:
        source = _LIMIT_PROLOGUE.format(limit=int(address_space)) + source
    source = _PROLOGUE + source
    try:
        proc = subprocess.run([sys.executable, "-c", source], capture_output=True, text=True,
                              timeout=timeout, env=child_env())
    except subprocess.TimeoutExpired as exc:
        return Outcome(returncode=-signal.SIGKILL, timed_out=True,
                       stdout=_text(exc.stdout), stderr=_text(exc.stderr))
    return Outcome(returncode=proc.returncode, timed_out=False, stdout=proc.stdout, stderr=proc.stderr)


def _text(data):
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data


# The forking child. It reads the cases from a JSON file, runs the setup once,
# then forks one grandchild per case (at most ``jobs`` at a time). A grandchild
# writes its output to two files of its own, sets its own memory limit and
# exits with 0 (pass), 1 (exception) or dies of a signal; the child waits on
# the grandchildren's pidfds with a deadline and kills one past its limit.
_SERVER = r"""
import faulthandler, gc, json, os, resource, select, signal, sys, time, traceback

spec_path, result_path = sys.argv[1], sys.argv[2]
with open(spec_path) as f:
    spec = json.load(f)
namespace = {"__name__": "__recfreq_case__"}
exec(compile(spec["setup"], "<setup>", "exec"), namespace)
# Objects created so far are shared with every grandchild; frozen, the garbage
# collector of a grandchild never walks (and so never copies) their pages.
gc.freeze()


def start(index, case):
    out_path, err_path = f"{result_path}.{index}.out", f"{result_path}.{index}.err"
    sys.stdout.flush(); sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the grandchild: run one case, never return into the loop
        status = 1
        try:
            out_fd = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            err_fd = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(out_fd, 1); os.dup2(err_fd, 2)
            faulthandler.enable(file=sys.stderr, all_threads=True)
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash reports; it leaves no core file
            if case["address_space"] is not None:
                limit = int(case["address_space"])
                resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            exec(compile(case["code"], "<case " + case["name"] + ">", "exec"), dict(namespace))
            status = 0
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush(); sys.stderr.flush()
            os._exit(status)
    return {"pid": pid, "pidfd": os.pidfd_open(pid), "case": case, "out": out_path, "err": err_path,
            "deadline": time.monotonic() + case["timeout"]}


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def finish(job, wait_status, timed_out):
    os.close(job["pidfd"])
    results[job["case"]["name"]] = {"returncode": os.waitstatus_to_exitcode(wait_status), "timed_out": timed_out,
                                    "stdout": read(job["out"]), "stderr": read(job["err"])}
    with open(result_path, "w") as f:  # rewritten after every case: a dying child loses nothing
        json.dump(results, f)


results = {}
pending = list(enumerate(spec["cases"]))[::-1]
running = {}
while pending or running:
    while pending and len(running) < spec["jobs"]:
        job = start(*pending.pop())
        running[job["pidfd"]] = job
    now = time.monotonic()
    wait = max(0.0, min(job["deadline"] for job in running.values()) - now)
    ready, _, _ = select.select(list(running), [], [], wait)
    for fd in ready:
        job = running.pop(fd)
        finish(job, os.waitpid(job["pid"], 0)[1], timed_out=False)
    now = time.monotonic()
    for fd, job in list(running.items()):
        if now > job["deadline"]:
            os.kill(job["pid"], signal.SIGKILL)
            del running[fd]
            finish(job, os.waitpid(job["pid"], 0)[1], timed_out=True)
"""


def run_cases(cases, *, setup="", jobs=None, overhead=120.0):
    """Run every :class:`Case` in its own forked process after one shared ``setup``.

    Parameters
    ----------
    cases : list of Case
        Names must be unique.
    setup : str
        Code run once in the forking child before the cases (imports, data,
        helpers); its names are visible to every case. It must not start
        threads (no OpenMP kernel, no thread pool): forking a process that has
        them can deadlock the grandchild.
    jobs : int or None
        Cases run at the same time; None: two, or one on a single-CPU machine.
    overhead : float
        Seconds allowed on top of the cases' own time limits (the setup's imports).

    Returns
    -------
    dict of str to Outcome
        One per case. If the forking child itself dies, every case it did not
        finish reports the child's exit status and output.
    """
    names = [c.name for c in cases]
    if len(set(names)) != len(names):
        raise ValueError("case names must be unique")
    with tempfile.TemporaryDirectory(prefix="recfreq-cases-") as tmp:
        spec_path, result_path = os.path.join(tmp, "spec.json"), os.path.join(tmp, "results.json")
        if jobs is None:
            jobs = max(1, min(2, len(os.sched_getaffinity(0))))
        with open(spec_path, "w") as f:
            json.dump({"setup": textwrap.dedent(setup), "jobs": int(jobs),
                       "cases": [{"name": c.name, "code": textwrap.dedent(c.code), "timeout": c.timeout,
                                  "address_space": c.address_space} for c in cases]}, f)
        limit = overhead + sum(c.timeout for c in cases)
        try:
            proc = subprocess.run([sys.executable, "-c", _SERVER, spec_path, result_path], capture_output=True,
                                  text=True, timeout=limit, env=child_env())
            server = Outcome(proc.returncode, False, proc.stdout, proc.stderr)
        except subprocess.TimeoutExpired as exc:
            server = Outcome(-signal.SIGKILL, True, _text(exc.stdout), _text(exc.stderr))
        try:
            with open(result_path) as f:
                raw = json.load(f)
        except (OSError, ValueError):
            raw = {}
    results = {}
    for name in names:
        if name in raw:
            results[name] = Outcome(**raw[name])
        else:  # the forking child died before this case finished
            results[name] = Outcome(server.returncode if server.returncode else 1, server.timed_out,
                                    server.stdout, "the forking child did not run this case\n" + server.stderr)
    return results
