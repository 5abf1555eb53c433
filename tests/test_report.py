"""The HTML report (`snakemake --report`) of the e2e run, opened in headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from showerflow.report import RunFacts, dl2_facts, model_facts, resolved_config

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

# Every plot of the workflow and where the report files it: (category, subcategory).
PLOTS = {
    "energy_bias_resolution_model.png": ("1. Models", "Energy regressor"),
    "feature_importances_energy.png": ("1. Models", "Energy regressor"),
    "roc.png": ("1. Models", "Gamma/hadron classifier"),
    "auc_vs_energy.png": ("1. Models", "Gamma/hadron classifier"),
    "feature_importances_classifier.png": ("1. Models", "Gamma/hadron classifier"),
    "sensitivity.png": ("2. Performance", "Sensitivity"),
    "sensitivity_offset.png": ("2. Performance", "Sensitivity"),
    "angular_resolution.png": ("2. Performance", "Benchmarks"),
    "angular_resolution_containment.png": ("2. Performance", "Benchmarks"),
    "energy_bias_resolution.png": ("2. Performance", "Benchmarks"),
    "effective_area.png": ("2. Performance", "IRFs"),
    "background_rate.png": ("2. Performance", "IRFs"),
    "cuts.png": ("2. Performance", "Cuts"),
}


# --------------------------------------------------------------------------- unit


def test_dl2_facts_count_events_runs_and_showers(tmp_path):
    import pandas as pd

    from showerflow.tables import write_table

    records = [
        {"obs_id": 1, "particle": "gamma", "n_showers": 1000, "shower_reuse": 10},
        {"obs_id": 2, "particle": "gamma", "n_showers": 500, "shower_reuse": 1},
    ]
    path = tmp_path / "g.parquet"
    meta = {"dataset": "gamma_on", "simulation": records, "inputs": ["a.root", "b.root"]}
    write_table(pd.DataFrame({"obs_id": [1, 1, 2], "event_id": [1, 2, 1]}), path, meta)
    facts = dl2_facts(path)
    assert facts == {
        "dataset": "gamma_on",
        "n_events": 3,
        "n_runs": 2,
        "n_files": 2,
        "n_showers": 10_500,
        "particle": "gamma",
    }


def test_dl2_facts_reject_a_file_without_showerflow_metadata(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from showerflow.contracts import ContractError

    path = tmp_path / "plain.parquet"
    pq.write_table(pa.table({"x": [1]}), path)
    with pytest.raises(ContractError, match="plain.parquet: no 'showerflow' key-value metadata"):
        dl2_facts(path)


def test_model_facts_sum_telescope_types():
    metrics = {
        "training_inputs": ["a", "b", "c"],
        "per_tel_type": {"MST": {"n_train": 30, "n_test": 7}, "LST": {"n_train": 10, "n_test": 3}},
    }
    facts = model_facts(metrics)
    assert facts["n_tables"] == 3 and facts["n_train"] == 40 and facts["n_test"] == 10
    assert facts["tel_types"] == "LST, MST"


def test_run_facts_read_lazily_with_a_stable_repr(tmp_path):
    metrics = tmp_path / "energy.metrics.json"
    facts = RunFacts(metrics={"energy": str(metrics)})  # the file does not exist yet: fine
    assert repr(facts) == repr(RunFacts(metrics={"energy": str(metrics)}))
    assert facts == RunFacts(metrics={"energy": str(metrics)})
    metrics.write_text(json.dumps({"per_tel_type": {"LST": {"n_train": 5, "n_test": 2}}}))
    assert facts.models["energy"]["n_train"] == 5
    assert facts.performance == {}


def test_resolved_config_is_plain_yaml():
    doc = resolved_config({"results": "r", "x": Path("p")}, {"alpha": 0.2}, {"energy": {}})
    assert doc == {
        "workflow": {"results": "r", "x": "p"},
        "performance": {"alpha": 0.2},
        "models": {"energy": {}},
    }
    assert yaml.safe_load(yaml.safe_dump(doc)) == doc


def test_every_plot_is_marked_for_the_report_with_an_existing_caption():
    text = (REPO / "rules" / "plots.smk").read_text() + (REPO / "rules" / "report.smk").read_text()
    marked = re.findall(
        r'report\(\s*f"\{R\}/plots/([\w.]+)",\s*caption="\.\./(report/\w+\.rst)"', text
    )
    assert sorted(name for name, _ in marked) == sorted(PLOTS)
    for _, caption in marked:
        assert (REPO / caption).is_file(), caption
    assert 'report: "report/workflow.rst"' in (REPO / "Snakefile").read_text()


# --------------------------------------------------------------------------- e2e


@pytest.fixture(scope="module")
def report_html(e2e_run):
    """``snakemake --report`` on the finished e2e run: the HTML file."""
    from workflow_helpers import snakemake

    path = Path(e2e_run) / "report.html"
    result = snakemake(e2e_run, "--report", str(path))
    assert "Report created" in result.stdout + result.stderr
    return path


def _report_data(html, name):
    """A JSON object the report defines as ``var <name> = {...};``."""
    match = re.search(rf"^\s*var {name} = (\{{.*\}});$", html, re.M)
    assert match, f"no '{name}' object in the report"
    return json.loads(match.group(1))


@pytest.mark.e2e
def test_report_holds_every_plot_with_a_rendered_caption(report_html, e2e_run):
    html = report_html.read_text()
    categories = _report_data(html, "categories")
    results = _report_data(html, "results")
    filed = {
        Path(p).name: (cat, sub)
        for cat, subs in categories.items()
        for sub, paths in subs.items()
        for p in paths
    }
    for name, where in PLOTS.items():
        assert filed[name] == where, name
    assert filed["config.yaml"] == ("3. Configuration", "Resolved config")
    results_dir = Path(e2e_run) / "results"
    gamma = dl2_facts(results_dir / "dl2" / "gamma.parquet")
    diffuse = dl2_facts(results_dir / "dl2" / "gamma_diffuse.parquet")
    energy = model_facts(results_dir / "models" / "energy.metrics.json")
    for path, entry in results.items():
        caption = entry["caption"]
        assert "{{" not in caption and "{%" not in caption, path
        assert len(re.sub(r"<[^>]+>", "", caption)) > 200, f"{path}: caption too short"
        if path.endswith(".png"):
            assert entry["mime_type"] == "image/png"
        name = Path(path).name
        if PLOTS.get(name, ("",))[0] == "2. Performance":
            # the caption names the data: datasets and their event counts
            assert (
                f"{gamma['n_events']:,} on-axis gamma events from {gamma['n_files']} DL1" in caption
            )
            assert (
                f"{diffuse['n_events']:,} diffuse gamma events from {diffuse['n_files']} DL1"
                in caption
            )
            assert "gamma" in caption and "proton" in caption and "electron" in caption
        if name in ("energy_bias_resolution_model.png", "feature_importances_energy.png"):
            assert f"{energy['n_train']:,}" in caption, name
    sens = results["results/plots/sensitivity.png"]["caption"]
    assert "50.0 h" in sens and "prod5" in sens and "requirement" in sens
    # the run's configuration: the resolved config, and the config file given to Snakemake
    resolved = yaml.safe_load((results_dir / "report" / "config.yaml").read_text())
    assert resolved["workflow"]["files_per_job"] == 3  # the e2e config's own value
    assert resolved["performance"]["observation_time"] == 50.0  # a schema default
    assert set(resolved["models"]) == {"energy", "classifier"}
    assert "config.yaml" in html and "showerflow: performance of a Cherenkov" in html


def _driver(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(arg)
    options.binary_location = CHROMIUM
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def _png_shape(data):
    from io import BytesIO

    import matplotlib.image as mpimg

    image = mpimg.imread(BytesIO(data), format="png")
    return image


@pytest.mark.e2e
def test_report_plots_render_in_headless_chromium(report_html, e2e_run, tmp_path):
    """Click through the report's menu as a reader would; every plot must show."""
    if not (CHROMIUM and CHROMEDRIVER):
        if os.environ.get("CI"):
            pytest.fail("chromium and chromium-driver (Debian) are needed: see .ci/run")
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install, as .ci/run)")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    shots = tmp_path / "screenshots"
    shots.mkdir()
    driver = _driver(tmp_path)
    try:
        driver.get(report_html.as_uri())
        wait = WebDriverWait(driver, 20)
        wait.until(ec.presence_of_element_located((By.XPATH, "//a[normalize-space()='Workflow']")))
        driver.save_screenshot(str(shots / "00-workflow.png"))
        assert "showerflow: performance of a Cherenkov" in driver.page_source
        seen = {}
        for category in sorted({c for c, _ in PLOTS.values()}):
            subcategories = sorted({s for c, s in PLOTS.values() if c == category})
            for sub in subcategories:
                # the report's own navigation (the links captions use), then the menu
                driver.execute_script("app.showCategory(arguments[0])", category)
                if len(subcategories) > 1:
                    wait.until(
                        ec.element_to_be_clickable(
                            (By.XPATH, f"//nav//a[normalize-space()='{sub}']")
                        )
                    ).click()
                rows = wait.until(
                    ec.presence_of_all_elements_located(
                        (By.XPATH, "//nav//tr[td[contains(normalize-space(), 'results/plots/')]]")
                    )
                )
                names = [Path(r.find_element(By.XPATH, "./td[1]").text.strip()).name for r in rows]
                assert sorted(names) == sorted(n for n, w in PLOTS.items() if w == (category, sub))
                for i, name in enumerate(names):
                    row = driver.find_elements(
                        By.XPATH, "//nav//tr[td[contains(normalize-space(), 'results/plots/')]]"
                    )[i]
                    row.find_element(By.CSS_SELECTOR, "a[iconname='eye']").click()
                    img = wait.until(
                        ec.visibility_of_element_located(
                            (By.XPATH, f"//img[contains(@src, 'filename={name};')]")
                        )
                    )
                    wait.until(
                        lambda d, img=img: d.execute_script(
                            "return arguments[0].complete && arguments[0].naturalWidth > 0", img
                        )
                    )
                    natural = driver.execute_script(
                        "return [arguments[0].naturalWidth, arguments[0].naturalHeight]", img
                    )
                    driver.save_screenshot(str(shots / f"{len(seen) + 1:02d}-{name}"))
                    seen[name] = (natural, img.screenshot_as_png)
        assert sorted(seen) == sorted(PLOTS)
        for name, ((width, height), shot) in seen.items():
            original = _png_shape((Path(e2e_run) / "results" / "plots" / name).read_bytes())
            # the browser decoded the whole PNG: its natural size is the file's
            assert (height, width) == original.shape[:2], name
            pixels = _png_shape(shot)[..., :3]
            # what is on screen is a plot, not a blank box: many distinct colours, dark
            # axis/text pixels and a mostly white background
            assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50, name
            grey = pixels.mean(axis=-1)
            assert 0.005 < (grey < 0.3).mean() < 0.3, name
            assert (grey > 0.95).mean() > 0.5, name
    finally:
        driver.quit()
