"""Errors where a person looks: a failed job's own log ends with its error, and an
OSError while writing names the file being written."""

import re
import subprocess
import sys
import textwrap

import pytest
import yaml
from conftest import REPO

from showerflow.logs import describe_error


def _last_line(path):
    return path.read_text().rstrip("\n").splitlines()[-1]


def test_a_failed_catalog_job_ends_its_own_log_with_the_error(tmp_path):
    """The real catalog script, run by Snakemake on a file that is not ROOT."""
    (tmp_path / "dl1").mkdir()
    bad = tmp_path / "dl1" / "bad.root"
    bad.write_bytes(b"not a ROOT file" * 100)
    spec = {
        "folders": ["dl1"],
        "pattern": "*.root",
        "query": None,
        "identity": "uuid",
        "roles": {"energy": 0.0, "classification": 0.0, "performance": 1.0},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"skip_bad_files": False}))
    (tmp_path / "Snakefile").write_text(
        textwrap.dedent(
            f"""
            configfile: "config.yaml"

            rule catalog:
                input:
                    files=["dl1/bad.root"],
                output:
                    catalog="catalog/{{dataset}}.parquet",
                    summary="catalog/{{dataset}}.json",
                log:
                    "logs/catalog/{{dataset}}.log",
                params:
                    spec={spec!r},
                    max_files=None,
                script:
                    "{REPO / "scripts" / "catalog.py"}"
            """
        )
    )
    cmd = [sys.executable, "-m", "snakemake", "catalog/g.parquet", "--cores", "1"]
    res = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True)
    assert res.returncode != 0
    log = tmp_path / "logs" / "catalog" / "g.log"
    text = log.read_text()
    assert "Traceback" in text
    last = _last_line(log)
    assert re.search(
        r"CRITICAL showerflow: job failed: ContractError: dl1/bad.root: not a readable ROOT "
        r"file \(ValueError: not a ROOT file: first four bytes are b'not ' in file "
        r"dl1/bad.root\)$",
        last,
    ), last
    assert not (tmp_path / "catalog" / "g.parquet").exists()


def test_a_write_that_fails_names_the_file(tmp_path):
    """A real write error (a file size limit: EFBIG, as a full disk gives ENOSPC): the
    error and the job's log name the file being written; nothing is left under its name."""
    out = tmp_path / "out" / "table.parquet"
    log = tmp_path / "job.log"
    code = textwrap.dedent(
        """
        import resource, signal, sys
        import numpy as np, pandas as pd
        from showerflow.logs import setup_logging
        from showerflow.tables import write_table

        setup_logging(sys.argv[2])
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64_000, 64_000))
        write_table(pd.DataFrame({"x": np.random.default_rng(0).random(200_000)}), sys.argv[1])
        """
    )
    res = subprocess.run(
        [sys.executable, "-c", code, str(out), str(log)], capture_output=True, text=True
    )
    assert res.returncode != 0
    last = _last_line(log)
    assert re.search(rf"job failed: OSError: \[Errno 27\] writing {out}: .*File too large$", last)
    assert not out.exists()
    assert list(out.parent.iterdir()) == []  # the temporary file is gone too


def test_oserror_names_its_file_once():
    err = FileNotFoundError(2, "No such file or directory", "/data/x.root")
    assert describe_error(err) == (
        "FileNotFoundError: [Errno 2] No such file or directory: '/data/x.root'"
    )
    err = OSError(28, "No space left on device")
    assert describe_error(err) == "OSError: [Errno 28] No space left on device"
    err.filename = "/results/dl2/g.parquet"
    assert describe_error(err).endswith("'/results/dl2/g.parquet'")


def test_atomic_path_names_the_target_of_a_failed_write(tmp_path):
    from showerflow.tables import atomic_path

    target = tmp_path / "sub" / "file.json"
    with pytest.raises(OSError, match=rf"\[Errno 28\] writing {target}: No space left"):
        with atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise OSError(28, "No space left on device")
    assert not target.exists() and list(target.parent.iterdir()) == []
