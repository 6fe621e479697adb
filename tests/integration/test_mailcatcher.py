"""The demo's mail catcher keeps every message it is sent as an .eml file a person can open."""

from __future__ import annotations

import email
import smtplib
import subprocess
import sys
import time
from email import policy
from pathlib import Path

from tests.support.smtp import free_port


def test_the_mail_catcher_writes_each_message_as_an_eml_file(tmp_path: Path) -> None:
    port = free_port()
    folder = tmp_path / "mail"
    catcher = subprocess.Popen([sys.executable, "-m", "netflow", "mailcatcher", "--port", str(port),
                                "--dir", str(folder)], stdout=subprocess.PIPE, text=True)
    try:
        assert catcher.stdout is not None
        assert "mail catcher on smtp://127.0.0.1" in catcher.stdout.readline()
        deadline = time.monotonic() + 10
        while True:
            try:
                client = smtplib.SMTP("127.0.0.1", port, timeout=5)
                break
            except OSError:
                assert time.monotonic() < deadline, "the mail catcher did not start"
                time.sleep(0.1)
        with client:
            for n in (1, 2):
                client.sendmail("netflow@hospital.example", ["nav@hospital.example"],
                                f"Subject: digest {n}\r\nTo: nav@hospital.example\r\n\r\nbody {n}\r\n")
    finally:
        catcher.terminate()
        assert catcher.wait(timeout=10) == 0

    files = sorted(folder.glob("*.eml"))
    assert len(files) == 2
    subjects = [email.message_from_bytes(f.read_bytes(), policy=policy.default)["Subject"] for f in files]
    assert subjects == ["digest 1", "digest 2"]


def test_the_mail_catcher_listens_on_localhost_only() -> None:
    done = subprocess.run([sys.executable, "-m", "netflow", "mailcatcher", "--host", "0.0.0.0"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "localhost only" in done.stderr
