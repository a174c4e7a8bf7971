from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from aoi.cli import app
from servers.executor.audit import AuditLog
from servers.probe.calllog import CallLog
from tests.transcripts.conftest import full_episode
from transcripts import TranscriptStore
from transcripts.export import validate_record

runner = CliRunner()


def _db(tmp_path: Path) -> tuple[Path, str, str]:
    db = tmp_path / "t.db"
    with TranscriptStore(db) as s:
        good = full_episode(s)
        bad = s.start_episode(target="ns", policy="openai", problem_id="p2")
        s.add_step(bad, role="user", text="find the fault")
        s.grade(bad, {"success": False})
        s.finish(bad, "failed")
    return db, good, bad


def test_list_show(tmp_path: Path) -> None:
    db, good, bad = _db(tmp_path)
    r = runner.invoke(app, ["transcripts", "list", "--db", str(db)])
    assert r.exit_code == 0, r.output
    assert good[:8] in r.output and bad[:8] in r.output and "2 episode(s)" in r.output
    r = runner.invoke(app, ["transcripts", "list", "--db", str(db), "--policy", "openai", "--json"])
    assert [json.loads(line)["id"] for line in r.stdout.splitlines()] == [bad]
    r = runner.invoke(app, ["transcripts", "show", good[:8], "--db", str(db)])
    assert r.exit_code == 0, r.output
    assert "get_pods" in r.output and "restart-geo" in r.output and "detected" in r.output
    r = runner.invoke(app, ["transcripts", "show", good, "--db", str(db), "--json"])
    assert json.loads(r.stdout)["id"] == good
    r = runner.invoke(app, ["transcripts", "show", "nope", "--db", str(db)])
    assert r.exit_code == 2 and "no episode" in r.output


def test_export_filters_and_import(tmp_path: Path) -> None:
    db, good, bad = _db(tmp_path)
    out = tmp_path / "exp" / "ok.jsonl"
    r = runner.invoke(app, ["transcripts", "export", "--db", str(db), "--out", str(out), "--grade", "success"])
    assert r.exit_code == 0, r.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [rec["metadata"]["episode_id"] for rec in records] == [good]
    assert all(validate_record(rec) == [] for rec in records)
    r = runner.invoke(app, ["transcripts", "export", "--db", str(db), "--grade", "failure"])
    assert [json.loads(line)["metadata"]["episode_id"] for line in r.stdout.splitlines()] == [bad]
    r = runner.invoke(app, ["transcripts", "export", "--db", str(db), "--id", bad[:8], "--no-aoi-metadata",
                            "--arguments-as-object"])
    (line,) = r.stdout.splitlines()
    assert "aoi" not in json.loads(line)["metadata"]
    other = tmp_path / "other.db"
    r = runner.invoke(app, ["transcripts", "import", str(out), "--db", str(other)])
    assert r.exit_code == 0 and "imported 1" in r.output
    with TranscriptStore(other) as s:
        assert s.episode(good).n_steps == 8


def test_import_logs(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    calls = tmp_path / "calls.db"
    CallLog(calls).record("cluster_overview", {}, "ok", False, 1.0)
    r = runner.invoke(app, ["transcripts", "import-calllog", str(calls), "--db", str(db)])
    assert r.exit_code == 0 and "imported 1" in r.output, r.output
    r = runner.invoke(app, ["transcripts", "import-calllog", str(calls), "--db", str(db)])
    assert "1 already present" in r.output
    audit = tmp_path / "audit.jsonl"
    AuditLog(audit).append({"op": "execute", "cluster": "sim", "result": "refused", "reason": "bad_signature"})
    r = runner.invoke(app, ["transcripts", "import-audit", str(audit), "--db", str(db)])
    assert r.exit_code == 0 and "imported 1" in r.output, r.output
    r = runner.invoke(app, ["transcripts", "list", "--db", str(db), "--json"])
    assert sorted(json.loads(line)["source"] for line in r.stdout.splitlines()) == ["audit", "calllog"]


def test_clear_errors(tmp_path: Path) -> None:
    r = runner.invoke(app, ["transcripts", "list", "--db", str(tmp_path / "absent.db")])
    assert r.exit_code == 2 and "no transcript database" in r.output
    assert not (tmp_path / "absent.db").exists()  # reading never creates one
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"\x00garbage" * 200)
    r = runner.invoke(app, ["transcripts", "export", "--db", str(corrupt)])
    assert r.exit_code == 2 and "not a usable transcript database" in r.output
    junk = tmp_path / "junk.jsonl"
    junk.write_text("{not json\n")
    r = runner.invoke(app, ["transcripts", "import", str(junk), "--db", str(tmp_path / "n.db")])
    assert r.exit_code == 2 and "junk.jsonl:1" in r.output
    r = runner.invoke(app, ["transcripts", "import-calllog", str(junk), "--db", str(tmp_path / "n.db")])
    assert r.exit_code == 2 and "not a probe call log" in r.output
    r = runner.invoke(app, ["transcripts", "import-audit", str(tmp_path / "none.jsonl"), "--db",
                            str(tmp_path / "n.db")])
    assert r.exit_code == 2 and "no audit log" in r.output
