"""The supervisor's restart policy, state file and reports: fake components, a fake clock."""

from __future__ import annotations

import json
import os
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from marketplace.restarts import (
    STATE_FILE,
    Backoff,
    Record,
    State,
    hold_lock,
    load,
)
from marketplace.status import supervised_table
from marketplace.supervisor import ChildProcess, Supervisor, last_words


@dataclass
class Fake:
    """A component whose death the test decides."""

    name: str
    journal: list[str]
    running: bool = False
    starts: int = 0
    refuse: str = ""
    """If set, restart raises with this message."""

    def start(self, stopping: threading.Event) -> None:
        self.running, self.starts = True, self.starts + 1
        self.journal.append(f"start {self.name}")

    def restart(self) -> None:
        if self.refuse:
            raise RuntimeError(self.refuse)
        self.running, self.starts = True, self.starts + 1
        self.journal.append(f"restart {self.name}")

    def alive(self) -> bool:
        return self.running

    def pid(self) -> int | None:
        return 1000 + self.starts if self.running else None

    def stop(self) -> None:
        self.running = False
        self.journal.append(f"stop {self.name}")

    def exit_note(self) -> str:
        return "was killed by SIGKILL: boom"


@dataclass
class Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Rig:
    """A started supervisor of three fakes, its clock and its state file."""

    supervisor: Supervisor
    clock: Clock
    fakes: dict[str, Fake]
    state_file: Path
    journal: list[str] = field(default_factory=list)

    def state(self, name: str) -> dict[str, object]:
        [row] = [
            r for r in json.loads(self.state_file.read_text())["components"] if r["name"] == name
        ]
        return dict(row)

    def at(self, now: float) -> None:
        self.clock.now = now
        self.supervisor.tick()


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    journal: list[str] = []
    fakes = {name: Fake(name, journal) for name in ("store", "api", "projector")}
    clock = Clock()
    state_file = tmp_path / STATE_FILE
    supervisor = Supervisor(list(fakes.values()), state_file=state_file, clock=clock)
    supervisor.start()
    journal.clear()
    return Rig(supervisor, clock, fakes, state_file, journal)


def test_a_dead_component_is_restarted_after_a_delay_and_the_others_keep_running(
    rig: Rig,
) -> None:
    rig.fakes["projector"].running = False
    rig.at(10.0)
    assert rig.journal == ["stop projector"]  # its leftovers, nothing else
    assert rig.state("projector") | {"retry_at": None} == {
        "name": "projector",
        "state": "restarting",
        "pid": None,
        "restarts": 0,
        "last_error": "was killed by SIGKILL: boom",
        "retry_at": None,
    }
    assert rig.state("projector")["retry_at"] is not None
    assert rig.state("api")["state"] == "running"

    rig.at(10.4)
    assert rig.fakes["projector"].starts == 1
    rig.at(10.5)
    assert rig.journal == ["stop projector", "restart projector"]
    assert rig.state("projector")["state"] == "running"
    assert rig.state("projector")["restarts"] == 1
    assert rig.state("projector")["pid"] == 1002
    assert rig.state("projector")["last_error"] == "was killed by SIGKILL: boom"
    assert rig.fakes["store"].starts == rig.fakes["api"].starts == 1


def die_quickly(rig: Rig, name: str, times: int) -> list[float]:
    """Let the component die right after each restart; the delays the supervisor chose."""
    delays = []
    for _ in range(times):
        rig.fakes[name].running = False
        rig.supervisor.tick()
        record = rig.supervisor.records[name]
        assert record.retry_at is not None
        delays.append(record.retry_at - rig.clock.now)
        rig.at(record.retry_at)
    return delays


def test_quick_deaths_double_the_delay_up_to_the_cap_and_then_it_is_failing(rig: Rig) -> None:
    delays = die_quickly(rig, "api", 8)
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert rig.state("api")["state"] == "failing"  # running again, but it keeps dying
    assert rig.state("api")["restarts"] == 8
    assert rig.fakes["api"].starts == 9
    assert rig.state("store")["state"] == rig.state("projector")["state"] == "running"

    rig.fakes["api"].running = False
    rig.supervisor.tick()
    assert rig.state("api")["state"] == "failing"
    assert rig.state("api")["last_error"] == "was killed by SIGKILL: boom"


def test_a_component_that_stays_up_a_while_is_forgiven(rig: Rig) -> None:
    die_quickly(rig, "api", 6)
    assert rig.state("api")["state"] == "failing"
    rig.at(rig.clock.now + Backoff().steady_after)
    assert rig.state("api")["state"] == "running"
    assert die_quickly(rig, "api", 1) == [0.5]


def test_a_restart_that_fails_counts_as_a_death(rig: Rig) -> None:
    rig.fakes["store"].refuse = "address already in use"
    delays = die_quickly(rig, "store", 1)
    assert rig.state("store")["state"] == "restarting"
    assert rig.state("store")["last_error"] == "could not restart: address already in use"
    rig.at(rig.clock.now + 1.0)
    retry_at = rig.supervisor.records["store"].retry_at
    assert retry_at is not None and [*delays, retry_at - rig.clock.now] == [0.5, 2.0]
    assert rig.journal.count("stop store") == 3  # after the death, and after each failed try


def test_a_stop_goes_in_reverse_order_and_is_recorded(rig: Rig) -> None:
    rig.supervisor.stop()
    assert rig.journal == ["stop projector", "stop api", "stop store"]
    state = load(rig.state_file)
    assert state is not None and state.pid == os.getpid()
    assert {row.state for row in state.components} == {"stopped"}


def test_the_backoff_policy() -> None:
    policy = Backoff(first=0.5, cap=30.0, steady_after=60.0, failing_after=5)
    assert [policy.delay(n) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    record = Record("x", policy)
    record.started(0.0, 1)
    for n in range(1, 5):
        record.died(float(n), "boom")
        assert record.state is State.RESTARTING
        record.started(float(n), 1)
    record.died(5.0, "boom")
    assert record.state is State.FAILING
    record.started(10.0, 1)
    assert record.died(70.0, "late") == 0.5  # it had stayed up 60 s: a fresh start
    assert record.state is State.RESTARTING


def test_status_shows_what_up_recorded_and_whether_up_still_runs(rig: Rig) -> None:
    rig.fakes["api"].running = False
    rig.at(1.0)
    table = supervised_table(rig.state_file.parent)
    lines = table.splitlines()
    assert lines[0].startswith(f"`marketplace up` (pid {os.getpid()})")
    assert lines[1].split() == ["process", "state", "pid", "restarts", "last", "error"]
    rows = {line.split()[0]: line.split(maxsplit=4) for line in lines[2:]}
    assert rows["api"] == ["api", "restarting", "-", "0", "was killed by SIGKILL: boom"]
    assert rows["store"][:4] == ["store", "running", "1001", "0"]

    gone = json.loads(rig.state_file.read_text()) | {"pid": 2**22 + 1}
    rig.state_file.write_text(json.dumps(gone))
    assert "is not running" in supervised_table(rig.state_file.parent).splitlines()[0]
    assert "no `marketplace up`" in supervised_table(rig.state_file.parent / "elsewhere")


def test_one_up_per_data_directory(tmp_path: Path) -> None:
    first = hold_lock(tmp_path / "up.lock")
    assert first is not None
    assert hold_lock(tmp_path / "up.lock") is None
    first.close()
    again = hold_lock(tmp_path / "up.lock")
    assert again is not None
    again.close()


@pytest.mark.parametrize(
    ("lines", "words"),
    [
        (
            [
                '{"event": "projector started", "level": "info"}',
                '{"event": "projector stopped", "level": "error", '
                '"exception": "Traceback ...\\n  File x\\nTopicError: unknown topic"}',
                '{"event": "bye", "level": "info"}',
            ],
            "projector stopped: TopicError: unknown topic",
        ),
        (
            ["Traceback (most recent call last):", "OSError: [Errno 98] in use"],
            "OSError: [Errno 98] in use",
        ),
        (['{"event": "all quiet", "level": "info"}'], '{"event": "all quiet", "level": "info"}'),
        ([], ""),
    ],
)
def test_last_words_pick_the_error(lines: list[str], words: str) -> None:
    assert last_words(lines) == words


def test_a_child_logs_to_its_file_and_its_last_words_are_kept(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    lines = ['{"event": "first"}', '{"event": "boom", "level": "error"}']
    script = f"import sys; sys.stderr.write({chr(10).join(lines) + chr(10)!r}); sys.exit(3)"
    log_file = tmp_path / "logs" / "child.log"
    log_file.parent.mkdir()
    child = ChildProcess("child", [sys.executable, "-c", script], {}, log_file=log_file)

    child.start(threading.Event())
    assert child.process is not None and child.process.wait() == 3
    note = child.exit_note()
    child.stop()

    assert log_file.read_text().splitlines() == lines
    assert note == "exited with code 3: boom"
    assert "boom" not in capfd.readouterr().err
