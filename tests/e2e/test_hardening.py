"""Issue 14: each class of hole found by the outside attack, tried through the CLI.

Each test runs `python -m flowctl` as a user would (tests/e2e/kit.py) with the hostile
value or file of the report, and checks that nothing the author did not write ran, nothing
secret was written, and the command ended in one clear message.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.e2e.kit import Proc, Workspace, cli_env, q, wait_for


def flowctl(ws: Workspace, *args: str, stdin: bytes | None = None) -> Proc:
    """A flowctl command that takes no --state-dir (validate), run in the workspace."""
    argv = [sys.executable, "-m", "flowctl", *args]
    done = subprocess.run(
        argv, cwd=ws.root, env=cli_env(), input=stdin, capture_output=True, timeout=60
    )
    stdout, stderr = done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")
    assert "Traceback" not in stderr, stderr
    return Proc(tuple(argv), done.returncode, stdout, stderr)


BASH = shutil.which("bash")
needs_bash = pytest.mark.skipif(BASH is None, reason="bash is not installed")

# The red team's value: any arithmetic context of bash runs the command in the subscript.
ARITH_PAYLOAD = "a[$(touch PWN)]"

ARITHMETIC_COMMANDS = [
    "for((i=0;i<{{ inputs.n }};i++)); do :; done",
    "if(({{ inputs.n }} > 1)); then :; fi",
    "while (( {{ inputs.n }} )); do break; done",
    "true && (( {{ inputs.n }} )) || true",
    "echo $[{{ inputs.n }}]",
    'echo "$(( {{ inputs.n }} + 1 ))"',
    's=abc; echo "${s:{{ inputs.n }}}"',
    "s=abc; echo ${s:1:{{ inputs.n }}}",
    "a=(1 2); echo ${a[{{ inputs.n }}]}",
    "a[{{ inputs.n }}]=1",
    "a=(1); unset 'a[{{ inputs.n }}]'",
    'printf -v "a[{{ inputs.n }}]" %s x',
    "let x={{ inputs.n }}",
    'let "x={{ inputs.n }}+1"',
    "declare -i x={{ inputs.n }}",
    "typeset -i x; x={{ inputs.n }}",
    "[[ {{ inputs.n }} -eq 1 ]] || true",
    '[[ x == x && 1 -lt "{{ inputs.n }}" ]] || true',
    "cat <<EOF\n$(( {{ inputs.n }} ))\nEOF",
    "s=abc; cat <<EOF\n${s:{{ inputs.n }}}\nEOF",
]


@needs_bash
def test_values_in_bash_arithmetic_must_be_integers(ws: Workspace) -> None:
    steps = "".join(
        f"  - id: ctx{n}\n    shell: bash\n    run: {q(command)}\n"
        for n, command in enumerate(ARITHMETIC_COMMANDS)
    )
    spec = ws.spec("name: arith\ninputs:\n  n: {type: string}\nsteps:\n" + steps)
    hostile = ws.run(spec, "--input", f"n={ARITH_PAYLOAD}")
    assert hostile.code == 1, hostile.explain()
    assert not ws.path("PWN").exists()
    for n in range(len(ARITHMETIC_COMMANDS)):
        report = hostile.run.step_report(f"ctx{n}")
        assert report["status"] == "failed", (ARITHMETIC_COMMANDS[n], report)
        assert "is used in shell arithmetic" in str(report["error"]), report
        assert "but is not an integer" in str(report["error"]), report
    fine = ws.run(spec, "--input", "n=1")
    assert fine.code == 0, fine.explain()


@pytest.mark.parametrize(
    "command",
    [
        "echo $(( 1 << 2 )); printf '[%s]\\n' {{ inputs.x }} >seen",
        "s=a; echo ${s//<</x}; printf '[%s]\\n' {{ inputs.x }} >seen",
        "x=$(( 8 <<1 ))\nprintf '[%s]\\n' {{ inputs.x }} >seen",
    ],
)
def test_a_shift_or_pattern_is_no_here_document(ws: Workspace, command: str) -> None:
    (ws.root / "listed-if-globbed").write_text("")
    spec = ws.spec(
        f"""
        name: shift
        inputs:
          x: {{type: string}}
        steps:
          - id: show
            shell: bash
            run: {q(command)}
        """
    )
    done = ws.run(spec, "--input", "x=-n * two")
    assert done.code == 0, done.explain()
    assert ws.path("seen").read_text() == "[-n * two]\n"


def test_validate_warns_of_a_value_handed_to_a_nested_shell(ws: Workspace) -> None:
    spec = ws.spec(
        """
        name: nested
        inputs:
          x: {type: string}
        steps:
          - id: inner
            run: sh -c 'echo {{ inputs.x }}'
          - id: safe
            run: sh -c 'echo "$1"' sh {{ inputs.x }}
          - id: piped
            run: echo "{{ inputs.x }}" | bash
        """
    )
    done = flowctl(ws, "validate", str(spec))
    assert done.code == 0, done.explain()
    warnings = [line for line in done.stdout.splitlines() if "nested interpreter" in line]
    assert len(warnings) == 2, done.stdout
    assert warnings[0].startswith(f"{spec}:6:5: warning: step 'inner': {{{{ inputs.x }}}}")
    assert warnings[1].startswith(f"{spec}:10:5: warning: step 'piped'")
    assert flowctl(ws, "validate", "--strict", str(spec)).code == 2


# Long enough that `base64` wraps it at 76 columns; "/" "&" "<" " " "'" are escaped by
# one encoder or another.
TOKEN = "ghp_A1b2C3d4E5f6/G7h8I9j0&K1l2<M3n4 O5p6'Q7r8S9t0U1v2W3x4Y5z6"


# encodeURIComponent's safe set, and lower-case escapes with + for a space.
ENCODE_PY = """
import re, sys, urllib.parse as u
print(u.quote(sys.argv[1], safe="~!*()'"))
print(re.sub("%..", lambda m: m.group().lower(), u.quote_plus(sys.argv[1])))
"""


def _written_by(ws: Workspace, done: Proc) -> str:
    """Everything flowctl wrote: console, journal, report, history, step logs."""
    texts = [done.stdout, done.stderr]
    texts += [p.read_text(errors="replace") for p in ws.state.rglob("*") if p.is_file()]
    return "\n".join(texts)


def _reveals(text: str) -> list[str]:
    """Which encodings of TOKEN can be read back from `text`."""
    import base64
    import binascii
    import json
    from urllib.parse import unquote, unquote_plus

    found = []
    if TOKEN in text or TOKEN in unquote(text) or TOKEN in unquote_plus(text):
        found.append("raw or percent-encoded")
    for line in text.splitlines():
        line = line.strip()
        if line.startswith('"') and line.endswith('"'):
            try:
                if TOKEN in json.loads(line):
                    found.append("json")
            except ValueError:
                pass
    joined = "".join(text.split())
    for start in range(4):
        for alphabet in (None, b"-_"):
            chunk = joined[start:]
            chunk = chunk[: len(chunk) - len(chunk) % 4]
            try:
                decoded = base64.b64decode(chunk, altchars=alphabet)
            except (binascii.Error, ValueError):
                continue
            if TOKEN[4:20].encode() in decoded:
                found.append("base64")
    return found


def test_encoded_secrets_are_masked_everywhere(ws: Workspace) -> None:
    from tests.httpserver import HttpTestServer, Reply

    ws.path("encode.py").write_text(ENCODE_PY)
    with HttpTestServer() as server:
        server.reply("/echo", Reply(200, body="you sent t=" + _encode_query(TOKEN)))
        spec = ws.spec(
            f"""
            name: leaky
            secrets: [TOK]
            steps:
              - id: encodings
                run: |
                  printf %s "$TOK" | base64
                  printf %s "prefix-$TOK" | base64 -w 20
                  printf %s "$TOK" | base64 | tr '+/' '-_'
                  printf '"%s"\\n' "$TOK" | sed 's,/,\\\\/,g'
                  printf '"%s"\\n' "$TOK" | sed 's,&,\\\\u0026,g; s,<,\\\\u003c,g'
                  python3 encode.py "$TOK"
              - id: hook
                type: webhook
                http:
                  url: {q(server.url("/echo"))}
                  method: GET
                  params: {{t: "{{{{ env.TOK }}}}"}}
            """
        )
        done = ws.run(spec, env={"TOK": TOKEN})
    assert done.code == 0, done.explain()
    assert server.requests[0].query == {"t": [TOKEN]}
    written = _written_by(ws, done)
    assert "***" in written
    assert _reveals(written) == []


def _encode_query(value: str) -> str:
    import httpx

    return str(httpx.Request("GET", "http://h/", params={"t": value}).url).split("t=", 1)[1]


def _no_piece_of(secret: str, text: str, piece: int = 5) -> list[str]:
    """Every `piece`-character slice of the secret that shows up in text."""
    return sorted(
        {secret[i : i + piece] for i in range(len(secret) - piece + 1)}
        & {text[i : i + piece] for i in range(len(text) - piece + 1)}
    )


def test_messages_are_masked_before_they_are_cut(ws: Workspace) -> None:
    secret = "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4"
    spec = ws.spec(
        """
        name: cut
        secrets: [TOK]
        inputs:
          tok: {type: string, pattern: "^x$"}
        steps:
          - id: badout
            continue_on_failure: true
            run: printf 'x%.0s' $(seq 70) >"$FLOWCTL_OUTPUT"; echo " $TOK" >>"$FLOWCTL_OUTPUT"
          - id: cond
            continue_on_failure: true
            condition: "'yyyyyyyyyyyyyyyyyyyyyyyyyyyyyy' ~ env.TOK"
            run: "true"
          - id: noisy
            continue_on_failure: true
            run: printf '%0600d%s\\n' 0 "$TOK" >&2; exit 3
        """
    )
    bad_input = ws.run(spec, "--input", f"tok={secret}", env={"TOK": secret})
    assert bad_input.code == 2, bad_input.explain()
    assert "input 'tok'" in bad_input.output and "***" in bad_input.output
    assert _no_piece_of(secret, bad_input.output) == []

    done = ws.run(spec, "--input", "tok=x", env={"TOK": secret})
    assert done.code == 0, done.explain()
    statuses = done.run.statuses()
    assert statuses == {"badout": "failed", "cond": "failed", "noisy": "failed"}, statuses
    assert _no_piece_of(secret, _written_by(ws, done)) == []


def test_superlinear_filters_are_refused_not_run(ws: Workspace) -> None:
    spec = ws.spec(
        """
        name: slow-filters
        steps:
          - id: links
            continue_on_failure: true
            run: echo "{{ ('.' * 20000 ~ 'a.') | urlize }}"
          - id: wrap
            continue_on_failure: true
            run: echo "{{ ('a' * 1000000) | wordwrap(1) }}"
          - id: fine
            run: echo "{{ 'see https://example.com today' | urlize | length }}"
        """
    )
    done = ws.run(spec)
    assert done.code == 0, done.explain()
    assert done.run.statuses() == {"links": "failed", "wrap": "failed", "fine": "completed"}
    assert "urlize would take too long" in done.run.step_report("links")["error"]
    assert "wordwrap would make more than 100,000 lines" in done.run.step_report("wrap")["error"]


def test_aliases_are_budgeted_by_bytes_and_by_depth(ws: Workspace) -> None:
    big = ws.path("bytes.yaml")
    scalar = "x" * (1024 * 1024)
    big.write_text(
        f"name: bomb\ns: &s {scalar}\nbig: [{', '.join(['*s'] * 20)}]\n"
        "steps:\n  - id: a\n    run: 'true'\n"
    )
    done = flowctl(ws, "validate", str(big))
    assert done.code == 2, done.explain()
    assert f"{big}:3:" in done.stdout
    assert "aliases expand to more than 10,485,760 bytes of text" in done.stdout

    deep = ws.path("deep.yaml")
    nested = "[" * 60 + "]" * 60
    anchors = "".join(f"a{n}: &a{n} [*a{n - 1}]\n" for n in range(1, 40))
    deep.write_text(f"name: deep\na0: &a0 {nested}\n{anchors}steps:\n  - id: a\n    run: 'true'\n")
    done = flowctl(ws, "validate", str(deep))
    assert done.code == 2, done.explain()
    assert "makes the nesting deeper than the limit of 64 levels" in done.stdout


def test_a_deeply_nested_input_is_refused_with_exit_2(ws: Workspace) -> None:
    spec = ws.spec(
        """
        name: deep-input
        inputs:
          o: {type: array}
        steps:
          - id: a
            run: echo "{{ inputs.o | length }}"
        """
    )
    done = ws.run(spec, "--input", "o=" + "[" * 900 + "]" * 900)
    assert done.code == 2, done.explain()
    assert "input 'o' is nested deeper than the limit of 64 levels" in done.stderr
    assert done.files is None  # refused before a run directory exists
    assert ws.run(spec, "--input", "o=[[1], [2]]").code == 0


def test_the_spec_size_cap_counts_bytes_read_from_any_source(ws: Workspace) -> None:
    evil = ws.path("evil.yaml")
    evil.symlink_to("/dev/zero")
    done = flowctl(ws, "validate", str(evil))
    assert done.code == 2, done.explain()
    assert f"{evil}: is a device or other special file, not a workflow file" in done.stdout

    flood = b"# " + b"x" * (6 * 1024 * 1024) + b"\n"
    done = flowctl(ws, "validate", "-", stdin=flood)
    assert done.code == 2, done.explain()
    assert "<stdin>:1:1: error: file is over the 5,242,880-byte limit" in done.stdout

    ok = b"name: piped\nsteps:\n  - id: a\n    run: 'true'\n"
    assert flowctl(ws, "validate", "-", stdin=ok).code == 0
    assert ws.run(evil).code == 2


def test_a_templated_working_dir_stays_where_its_literal_prefix_points(ws: Workspace) -> None:
    jail = ws.path("jail")
    (jail / "sub").mkdir(parents=True)
    ws.path("outside").mkdir()
    (jail / "link").symlink_to(ws.path("outside"))
    spec = ws.spec(
        f"""
        name: confined
        inputs:
          t: {{type: string}}
        steps:
          - id: where
            working_dir: {q(str(jail) + "/{{ inputs.t }}")}
            run: pwd > "{ws.root}/pwd.txt"
        """
    )
    for hostile in ("../outside", "link", "sub/../../outside", "sub/../link"):
        done = ws.run(spec, "--input", f"t={hostile}")
        assert done.code == 1, done.explain()
        error = done.run.step_report("where")["error"]
        assert error.startswith("security: working_dir"), error
        assert f"outside '{jail}'" in error, error
        assert not ws.path("pwd.txt").exists()
    done = ws.run(spec, "--input", "t=sub")
    assert done.code == 0, done.explain()
    assert ws.path("pwd.txt").read_text().strip() == str(jail / "sub")


def test_resume_trusts_no_path_that_leaves_the_project(
    ws: Workspace, tmp_path_factory: pytest.TempPathFactory
) -> None:
    flag = ws.path("flag")
    spec = ws.spec(
        f"""
        name: resumable
        steps:
          - id: a
            run: test -f {q(flag)}
        """
    )
    failed = ws.run(spec)
    assert failed.code == 1, failed.explain()
    audit = failed.run.audit
    original = audit.read_text()
    started = json.loads(original.splitlines()[0])
    assert started["event"] == "run_started"
    assert started["data"]["spec"] == "wf.yaml" and started["data"]["workdir"] == "."

    elsewhere = tmp_path_factory.mktemp("elsewhere")
    evil = elsewhere / "evil.yaml"
    evil.write_text("name: resumable\nsteps:\n  - id: a\n    run: touch PWNED\n")

    for key, value in (("spec", str(evil)), ("workdir", str(elsewhere))):
        forged = dict(started, data=dict(started["data"], **{key: value}))
        if key == "spec":
            forged["data"]["spec_sha256"] = hashlib.sha256(evil.read_bytes()).hexdigest()
        audit.write_text(original.replace(original.splitlines()[0], json.dumps(forged), 1))
        done = ws.cli("resume", failed.run.run_id)
        assert done.code == 2, done.explain()
        assert f"records its {'spec' if key == 'spec' else 'working directory'} as" in done.stderr
        assert "outside the project root" in done.stderr
        assert not (elsewhere / "PWNED").exists() and not ws.path("PWNED").exists()
    audit.write_text(original)

    # A checkout moved as a whole resumes where it now is, and says what it uses.
    moved = tmp_path_factory.mktemp("moved") / "project"
    shutil.copytree(ws.root, moved, symlinks=True)
    (moved / "flag").touch()
    spec_text = (moved / "wf.yaml").read_text().replace(str(flag), str(moved / "flag"))
    assert spec_text != (moved / "wf.yaml").read_text()
    (moved / "wf.yaml").write_text(spec_text)
    there = Workspace(moved)
    done = there.cli("resume", failed.run.run_id, "--force")
    assert done.code == 0, done.explain()
    assert f"spec {moved / 'wf.yaml'}, working directory {moved}" in done.stderr


def test_a_symlink_planted_in_the_state_dir_is_not_followed(ws: Workspace) -> None:
    target = ws.path("victim.txt")
    target.write_text("precious\n")
    ws.state.mkdir()
    (ws.state / "history.jsonl").symlink_to(target)
    spec = ws.spec(
        """
        name: planted
        steps:
          - id: a
            run: "true"
        """
    )
    done = ws.run(spec)
    assert done.code == 2, done.explain()
    assert "is a symbolic link, and flowctl does not follow symlinks" in done.stderr
    assert target.read_text() == "precious\n"


def _strict(text: str) -> object:
    def refuse(name: str) -> None:
        raise AssertionError(f"{name} in a file that must be strict JSON")

    return json.loads(text, parse_constant=refuse)


def test_non_finite_numbers_neither_crash_resume_nor_reach_json_files(ws: Workspace) -> None:
    from tests.httpserver import HttpTestServer, Reply

    flag = ws.path("flag")
    with HttpTestServer() as server:
        server.reply(
            "/nan", Reply(200, body='{"a": NaN}', headers={"Content-Type": "application/json"})
        )
        spec = ws.spec(
            f"""
            name: crafted
            steps:
              - id: hook
                type: webhook
                http: {{url: {q(server.url("/nan"))}, method: GET}}
              - id: gate
                dependencies: [hook]
                run: test -f {q(flag)}
            """
        )
        failed = ws.run(spec)
        assert failed.code == 1, failed.explain()
        _strict(failed.run.dir.joinpath("report.json").read_text())
        for line in failed.run.audit.read_text().splitlines():
            _strict(line)
        lines = failed.run.audit.read_text().splitlines()
        crafted = []
        for line in lines:
            event = json.loads(line)
            if event["event"] == "step_completed":
                event["data"]["duration"] = -1e308
                line = json.dumps(event)
            crafted.append(line.replace('"duration": 0', '"duration": NaN'))
        failed.run.audit.write_text("\n".join(crafted) + "\n")
        flag.touch()
        done = ws.resume(failed.run.run_id)
    assert done.code == 0, done.explain()
    assert "internal error" not in done.output
    _strict(done.run.dir.joinpath("report.json").read_text())


def test_resume_repairs_a_history_record_lost_after_run_finished_once(ws: Workspace) -> None:
    spec = ws.spec(
        """
        name: late-kill
        steps:
          - id: a
            run: echo hi
          - id: b
            dependencies: [a]
            run: "false"
            continue_on_failure: true
        """
    )
    done = ws.run(spec)
    assert done.code == 0, done.explain()
    history = ws.state / "history.jsonl"
    original = json.loads(history.read_text())
    history.write_text("")  # as if killed between run_finished and the history append
    first = ws.resume(done.run.run_id)
    assert first.code == 0, first.explain()
    assert "repaired the missing history record" in first.stderr
    again = ws.resume(done.run.run_id)
    assert again.code == 0 and "repaired" not in again.stderr
    records = done.run.history()
    assert len(records) == 1
    repaired = records[0]
    for key in ("run_id", "workflow", "status", "spec_sha256"):
        assert repaired[key] == original[key], key
    assert {s["id"]: s["status"] for s in repaired["steps"]} == {
        s["id"]: s["status"] for s in original["steps"]
    }
    optimized = flowctl(ws, "optimize", str(history))  # the repaired line reads back
    assert optimized.code == 0, optimized.explain()


def test_flowctl_runs_repairs_a_lost_history_record_once_and_only_where_it_went(
    ws: Workspace,
) -> None:
    spec = ws.spec(
        """
        name: late-kill-runs
        steps:
          - id: a
            run: echo hi
        """
    )
    done = ws.run(spec)
    assert done.code == 0, done.explain()
    elsewhere = ws.path("elsewhere.jsonl")
    other = ws.run(spec, "--history", str(elsewhere))
    assert other.code == 0, other.explain()
    history = ws.state / "history.jsonl"
    original = json.loads(history.read_text())
    history.write_text("")  # both lines lost, as if killed before the history append
    elsewhere.write_text("")
    listed = ws.cli("runs")
    assert listed.code == 0, listed.stderr
    assert f"repaired the missing history record of run {done.run.run_id}" in listed.stdout
    # The run that kept its history elsewhere is not written into this history.
    assert other.run.run_id not in listed.stdout.split("repaired", 1)[1]
    records = [json.loads(line) for line in history.read_text().splitlines()]
    assert [r["run_id"] for r in records] == [done.run.run_id]
    for key in ("workflow", "status", "spec_sha256"):
        assert records[0][key] == original[key], key
    assert [s["id"] for s in records[0]["steps"]] == ["a"]
    again = ws.cli("runs")
    assert "repaired" not in again.stdout
    resumed = ws.resume(done.run.run_id)  # resume finds the line there: no second one
    assert resumed.code == 0 and "repaired" not in resumed.stderr
    assert len(history.read_text().splitlines()) == 1
    assert elsewhere.read_text() == ""


def test_resume_rebuilds_a_report_lost_after_run_finished(ws: Workspace) -> None:
    # Found by benchmarks/kill_soak.py: a kill after run_finished (and the history line)
    # but before report.json left a complete run without its report, and resume of a
    # complete run has nothing to run, so nothing wrote it.
    spec = ws.spec(
        """
        name: late-kill-report
        steps:
          - id: a
            run: echo "v=1" >> "$FLOWCTL_OUTPUT"
            output_mapping: {result.v: workflow.a}
          - id: each
            type: loop
            dependencies: [a]
            loop:
              for_each: [x, y]
              steps:
                - id: b
                  run: echo "{{ item }}"
        """
    )
    done = ws.run(spec)
    assert done.code == 0, done.explain()
    original = done.run.report()
    done.run.dir.joinpath("report.json").unlink()
    first = ws.resume(done.run.run_id)
    assert first.code == 0, first.explain()
    assert "rebuilt the missing report.json" in first.stderr
    rebuilt = done.run.report()
    for key in ("run_id", "workflow", "status", "exit_code", "counts", "workflow_data"):
        assert rebuilt[key] == original[key], key
    assert [(s["id"], s["label"], s["status"]) for s in rebuilt["steps"]] == [
        (s["id"], s["label"], s["status"]) for s in original["steps"]
    ]
    assert "rebuilt from the journal" in rebuilt["optimization_note"]
    again = ws.resume(done.run.run_id)
    assert again.code == 0 and "rebuilt" not in again.stderr
    assert done.run.report() == rebuilt


def test_an_http_timeout_is_a_deadline_for_the_whole_request(ws: Workspace) -> None:
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()

    def drip() -> None:
        # Headers at once, then one body byte every 0.3 s: each read is quick, the whole
        # response takes 30 s.
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
            for _ in range(100):
                if stop.wait(0.3):
                    return
                try:
                    conn.sendall(b"x")
                except OSError:
                    return

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    port = listener.getsockname()[1]
    spec = ws.spec(
        f"""
        name: drip
        steps:
          - id: hook
            type: webhook
            http: {{url: "http://127.0.0.1:{port}/", method: GET, timeout: 1s}}
        """
    )
    try:
        done = ws.run(spec)
    finally:
        stop.set()
        listener.close()
    assert done.code == 1, done.explain()
    report = done.run.step_report("hook")
    assert report["status"] == "failed"
    assert "no response within 1 s" in report["error"], report


LOCAL = {"GITHUB_ACTIONS": "", "GITLAB_CI": "", "USER": "alice", "LOGNAME": "alice"}


def test_approvers_are_checked_against_the_verified_user_not_the_claimed_name(
    ws: Workspace,
) -> None:
    me = pwd.getpwuid(os.geteuid()).pw_name
    assert me != "alice"
    spec = ws.spec(
        """
        name: gated
        steps:
          - id: review
            type: human_task
            approval: {message: "Ship?", approvers: [alice, bob]}
          - id: ship
            dependencies: [review]
            run: echo shipped
        """
    )
    paused = ws.run(spec, env=LOCAL)
    assert paused.code == 4, paused.explain()
    run_id = paused.run.run_id
    before = paused.run.audit.read_bytes()
    # $USER and --by are claims: the OS user of the process is what is checked.
    claimed = ws.cli("approve", run_id, "review", "--by", "alice", env=LOCAL)
    assert claimed.code == 2, claimed.explain()
    assert claimed.stderr.strip() == (
        f"error: {me!r} is not an approver of step 'review' of run {run_id} "
        "(the claimed name 'alice' does not count when the user is known)"
    )
    assert "bob" not in claimed.output  # which names would pass is not said
    assert paused.run.audit.read_bytes() == before
    # In CI, the platform's actor is the verified identity; --by is kept beside it.
    for marker, actor_var, platform in (
        ("GITLAB_CI", "GITLAB_USER_LOGIN", "gitlab"),
        ("GITHUB_ACTIONS", "GITHUB_ACTOR", "github"),
    ):
        ci = {**LOCAL, marker: "true", actor_var: "mallory"}
        refused = ws.cli("approve", run_id, "review", "--by", "bob", env=ci)
        assert refused.code == 2 and "'mallory' is not an approver" in refused.stderr, platform
    ci = {**LOCAL, "GITHUB_ACTIONS": "true", "GITHUB_ACTOR": "bob"}
    approved = ws.cli("approve", run_id, "review", "--by", "Bob B.", env=ci)
    assert approved.code == 0, approved.explain()
    assert "approved by bob (claimed: Bob B.)" in approved.stdout
    decided = paused.run.named("approval_decided", "review")[-1].data
    assert {k: decided[k] for k in ("by", "claimed_by", "os_user", "ci_platform", "ci_actor")} == {
        "by": "bob",
        "claimed_by": "Bob B.",
        "os_user": me,
        "ci_platform": "github",
        "ci_actor": "bob",
    }
    resumed = ws.resume(run_id, env=LOCAL)
    assert resumed.code == 0, resumed.explain()
    assert resumed.run.outputs("review")["by"] == "bob"


def test_scratch_files_live_under_the_run_0700_and_resume_clears_them(ws: Workspace) -> None:
    spec = ws.spec(
        """
        name: leftovers
        steps:
          - id: slow
            run: |
              printf 'token=s3cret-leftover\\n' > "$FLOWCTL_OUTPUT"
              if [ ! -e again ]; then echo $$ > pgid; touch again; sleep 60; fi
        """
    )
    proc = ws.start("run", str(spec))
    wait_for("the step's pid", lambda: ws.path("again").exists(), 20.0, proc)
    pgid = int(ws.path("pgid").read_text())
    try:
        os.kill(proc.pid, signal.SIGKILL)  # flowctl itself, not its step's group
        proc.communicate()
        run = ws.only_run()
        scratch = run.dir / "scratch"
        assert stat.S_IMODE(scratch.stat().st_mode) == 0o700
        left = [p for p in scratch.iterdir() if p.name.endswith(".output")]
        assert [p.read_text() for p in left] == ["token=s3cret-leftover\n"]
        tmp = Path(tempfile.gettempdir())
        assert not list(tmp.glob(f"flowctl-{run.run_id}-*"))
    finally:
        os.killpg(pgid, signal.SIGKILL)  # the leftover group (resume does not kill it yet)
    resumed = ws.resume(run.run_id)
    assert resumed.code == 0, resumed.explain()
    assert resumed.run.outputs("slow")["token"] == "s3cret-leftover"
    assert not scratch.exists()  # cleared: no output of either session is left
