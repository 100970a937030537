"""``telecase bench timers --live``: the worker's restart path measures what it says."""

from __future__ import annotations

from bench.timers_live import run


def test_every_overdue_ticket_fires_once_on_the_worker_path() -> None:
    result = run(200)
    restart = result["restart"]
    assert result["tickets"] == 200
    assert restart["overdue_timers"] == 200
    assert restart["events_fired"] == 200  # one first-response breach each, nothing else
    assert restart["states_written"] == 200
    assert restart["still_pending"] == 200  # each resolution deadline, indexed again
    assert restart["total_s"] >= restart["fire_s"]
    assert result["stored_bytes_per_thread"] > 0
    memory = result["memory"]
    assert memory["stored_state_objects_bytes_per_thread"] > result["stored_bytes_per_thread"]
    assert memory["index_bytes_per_thread"] > 0


def test_split_over_processes_every_ticket_fires_once() -> None:
    result = run(200, processes=2)
    restart = result["restart"]
    assert result["processes"] == 2
    assert restart["events_fired"] == 200
    assert restart["states_written"] == 200
    assert restart["still_pending"] == 200
    assert restart["ticks"] >= 2  # a tick per process
    assert restart["cpu_s"] > 0
    assert restart["page_faults"] > 0  # two fresh processes touch new memory


def test_restarted_again_each_run_fires_everything_and_the_median_run_is_reported() -> None:
    """Each run starts from the same stored states (none sees another's firing), and the
    figures are those of the median run of the listed ones."""
    for processes in (1, 2):
        result = run(120, processes=processes, restarts=3)
        restart = result["restart"]
        assert restart["restarts"] == 3
        runs = restart["runs_total_s"]
        assert len(runs) == 3 == len(restart["runs_cpu_s"]) and runs == sorted(runs)
        assert restart["total_s"] == runs[1]
        assert restart["events_fired"] == 120  # the median run's, not three runs' worth
        assert restart["states_written"] == 120
        assert all(cpu > 0 for cpu in restart["runs_cpu_s"])
