"""hub.sweep / hub sweep: Optuna studies of ordinary runs on real digit images and the third party's tiny convnet."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import sys
import threading
import time

import numpy as np
import pytest

import hub_core as hub
from hub_core.cli.main import main
from hub_core.demo import write_digits
from hub_core.errors import InvalidArgumentError
from hub_core.training import runs, sweep

pytest.importorskip("optuna")
MODEL = "tiny_convnet"


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return write_digits(tmp_path_factory.mktemp("digits"), per_class=12, test_fraction=0.25)


def _hparams_events(folder: pathlib.Path) -> list:
    """The HParams plugin data of every event file under ``folder``, read with TensorBoard's own reader."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.plugins.hparams import plugin_data_pb2

    found = []
    for file in sorted(folder.rglob("events.out.tfevents.*")):
        for event in EventFileLoader(str(file)).Load():
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "hparams":
                    found.append(plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content))
    return found


SPACE = {"learning_rate": "loguniform:1e-3:3e-2", "label_smoothing": "0.0,0.1", "strategy": "head"}


def _kill_a_worker_in_its_second_trial(sweep_dir: pathlib.Path, found: dict, deadline: float) -> None:
    """SIGKILL the worker process that finished a trial and checkpointed a step of its next one (read from the journal)."""
    import optuna
    from optuna.trial import TrialState

    journal = sweep_dir / sweep.JOURNAL
    while time.time() < deadline and "trial" not in found:
        time.sleep(0.05)
        if not journal.exists():
            continue
        storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
        trials = storage.get_all_trials(storage.get_study_id_from_name(sweep_dir.resolve().name)) if storage.get_all_studies() else []
        finished = {t.user_attrs["worker"]["pid"] for t in trials if t.state == TrialState.COMPLETE}
        for trial in trials:
            pid = trial.user_attrs.get("worker", {}).get("pid")
            started = sweep_dir / trial.user_attrs.get("run", "-") / runs.CHECKPOINTS / runs.MANIFEST
            if trial.state == TrialState.RUNNING and pid in finished and started.exists():
                os.kill(pid, signal.SIGKILL)
                found.update(trial=trial.number, pid=pid)
                return


@pytest.fixture(scope="module")
def resumed(digits, tmp_path_factory):
    """Four trials by two worker processes sharing the journal file; one worker is killed mid-trial."""
    out = tmp_path_factory.mktemp("sweeps") / "digits"
    kwargs = dict(space=SPACE, trials=4, epochs=1, sweep_dir=out, pruner="none", checkpoint_every=1)
    killed = {}
    killer = threading.Thread(target=_kill_a_worker_in_its_second_trial, args=(out, killed, time.time() + 300))
    killer.start()
    try:
        with pytest.warns(UserWarning, match="died; the other workers retried their trials"):
            result = hub.sweep(MODEL, str(digits[0]), str(digits[1]), workers=2, **kwargs)
    finally:
        killed.setdefault("trial", None)
        killer.join()
    return result, kwargs, killed


@pytest.mark.slow
def test_killed_worker_trial_is_failed_and_retried(resumed):
    result, _, killed = resumed
    trials = {t["number"]: t for t in result.trials}
    assert killed["trial"] is not None and trials[killed["trial"]]["state"] == "fail"
    retry = next(t for t in result.trials if t["retry_of"] == killed["trial"])
    assert retry["state"] == "complete" and retry["params"] == trials[killed["trial"]]["params"]
    assert retry["run_dir"] == trials[killed["trial"]]["run_dir"]  # the same run directory, resumed from its checkpoint
    record = runs.read_json(pathlib.Path(retry["run_dir"]) / runs.RUN_CONFIG)["sweep"]
    assert record["trial"] == retry["number"] and record["state"] == "complete"
    history = runs.read_json(pathlib.Path(retry["run_dir"]) / runs.METRICS)["history"]
    assert len(history["val_accuracy"]) == 1


@pytest.mark.slow
def test_two_workers_share_the_study_and_run_each_trial_once(resumed, digits):
    result, kwargs, _ = resumed
    complete = [t for t in result.trials if t["state"] == "complete"]
    assert len(complete) == 4 and len(result.trials) == 5  # and the killed one, failed
    run_dirs = {t["run_dir"] for t in complete}
    assert len(run_dirs) == 4
    for trial in complete:
        record = runs.read_json(pathlib.Path(trial["run_dir"]) / runs.RUN_CONFIG)
        assert record["sweep"]["trial"] == trial["number"] and record["sweep"]["params"] == trial["params"]
        # one run per directory: a single history of the sweep's epochs
        history = runs.read_json(pathlib.Path(trial["run_dir"]) / runs.METRICS)["history"]
        assert len(history["val_accuracy"]) == 1
        assert trial["value"] == pytest.approx(history["val_accuracy"][0])
    import optuna

    journal = optuna.storages.journal.JournalFileBackend(str(result.sweep_dir / sweep.JOURNAL))
    study = optuna.load_study(study_name=result.sweep_dir.resolve().name, storage=optuna.storages.JournalStorage(journal))
    owners = [t.user_attrs["worker"]["pid"] for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(set(owners)) == 2 and os.getpid() not in owners  # both spawned workers took trials
    best = max(complete, key=lambda t: t["value"])
    assert result.best_value == best["value"] and str(result.best_run_dir) == best["run_dir"]
    summary = json.loads((result.sweep_dir / sweep.SUMMARY).read_text())
    assert summary["best"]["number"] == best["number"] and len(summary["trials"]) == 5
    assert (result.sweep_dir / sweep.PLOT).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a trial reopens as an ordinary run
    assert hub.load(best["run_dir"]).class_names == tuple(str(i) for i in range(10))

    # --trials is a total: the same sweep again adds no trial
    again = hub.sweep(MODEL, str(digits[0]), str(digits[1]), **kwargs)
    assert [t["number"] for t in again.trials] == [t["number"] for t in result.trials]
    assert again.best_value == result.best_value


@pytest.mark.slow
def test_hparams_summaries_name_the_searched_parameters(resumed):
    result = resumed[0]
    experiments = _hparams_events(result.sweep_dir / sweep.HPARAMS)
    assert len(experiments) == 1  # the experiment config, written once
    infos = {h.name: h for h in experiments[0].experiment.hparam_infos}
    assert {"learning_rate", "label_smoothing"} <= set(infos)
    assert infos["learning_rate"].domain_interval.min_value == pytest.approx(1e-3)
    assert [m.name.tag for m in experiments[0].experiment.metric_infos][0] == "val_accuracy"
    for trial in (t for t in result.trials if t["state"] == "complete"):
        sessions = [e.session_start_info for e in _hparams_events(pathlib.Path(trial["run_dir"]) / runs.LOGS)
                    if e.WhichOneof("data") == "session_start_info"]
        assert len(sessions) == 1
        assert sessions[0].hparams["learning_rate"].number_value == pytest.approx(trial["params"]["learning_rate"])
        assert sessions[0].hparams["sweep_state"].string_value == "complete"


@pytest.mark.slow
def test_show_prints_the_table(resumed, capsys):
    result = resumed[0]
    assert main(["sweep", "--out", str(result.sweep_dir), "--show"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["TRIAL", "STATE", "VAL_ACCURACY"]
    assert [line.split()[1] for line in lines[1:6]] == [t["state"] for t in result.trials]
    assert [t["state"] for t in result.trials].count("complete") == 4
    assert f"best val_accuracy = {result.best_value:.4f}" in "\n".join(lines)


@pytest.fixture(scope="module")
def pruned_sweep(digits, tmp_path_factory):
    out = tmp_path_factory.mktemp("sweeps") / "pruned"
    # two sane learning rates first (the median pruner waits for two trials), then one that diverges
    result = hub.sweep(MODEL, str(digits[0]), str(digits[1]), space={"learning_rate": "0.01,0.02,10000.0"}, trials=3,
                       epochs=2, sweep_dir=out, metric="val_loss", strategy="head",
                       enqueue=[{"learning_rate": 0.01}, {"learning_rate": 0.02}, {"learning_rate": 10000.0}])
    return result


@pytest.mark.slow
def test_pruner_prunes_a_diverging_learning_rate(pruned_sweep):
    trials = {t["params"]["learning_rate"]: t for t in pruned_sweep.trials}
    assert trials[0.01]["state"] == trials[0.02]["state"] == "complete"
    diverged = trials[10000.0]
    assert diverged["state"] == "pruned"
    run_dir = pathlib.Path(diverged["run_dir"])
    assert runs.read_json(run_dir / runs.RUN_CONFIG)["sweep"]["state"] == "pruned"
    assert (run_dir / runs.FINAL_MODEL).exists()  # the pruned run keeps its directory
    # the trials shared one feature cache: the backbone's outputs of the training and validation folders, once
    assert len(list((pruned_sweep.sweep_dir / "feature_cache").glob("*.npz"))) == 2
    assert not list(pruned_sweep.sweep_dir.glob("trial-*/feature_cache"))
    assert len(runs.read_json(run_dir / runs.METRICS)["history"]["val_loss"]) == 1  # pruned after its first epoch
    assert pruned_sweep.direction == "minimize"


@pytest.mark.slow
def test_best_trial_reproduces_with_fine_tune_and_its_seed(pruned_sweep, digits):
    best = pruned_sweep.best_options
    assert best == {**pruned_sweep.best_params, "strategy": "head", "epochs": 2, "seed": 0}
    train = hub.data.image_folder(digits[0], model=MODEL, batch_size=32, seed=best["seed"])
    validation = hub.data.image_folder(digits[1], model=MODEL, batch_size=32, seed=best["seed"], shuffle=False,
                                       class_names=train.class_names)
    again = hub.fine_tune(MODEL, train, validation, verbose=0, **pruned_sweep.best_params, seed=best["seed"],
                          epochs=2, strategy="head")
    recorded = runs.read_json(pruned_sweep.best_run_dir / runs.METRICS)["history"]
    np.testing.assert_allclose(again.history["val_loss"], recorded["val_loss"], rtol=1e-4)
    assert min(again.history["val_loss"]) == pytest.approx(pruned_sweep.best_value, rel=1e-4)


def test_search_space_specs_and_their_errors():
    assert sweep.parse_param("learning_rate", "loguniform:1e-4:1e-2") == sweep.Param("learning_rate", "loguniform", 1e-4, 1e-2)
    assert sweep.parse_param("unfreeze", "int:0:3") == sweep.Param("unfreeze", "int", 0, 3)
    assert sweep.parse_param("strategy", "head,two_phase").choices == ("head", "two_phase")
    assert sweep.parse_param("batch_size", "16, 32").choices == (16, 32)
    assert sweep.parse_param("x", "uniform:0:0.5").spec() == "uniform:0:0.5"
    for bad, words in (("loguniform:0:1", "above 0"), ("int:0.5:3", "integers"), ("uniform:2:1", "LOW < HIGH"),
                       ("between:1:2", "choices a,b,c")):
        with pytest.raises(InvalidArgumentError, match=words):
            sweep.parse_param("p", bad)


def test_parameters_map_to_training_options_and_builder_arguments():
    import keras

    options = sweep.trial_options({"learning_rate": 0.1, "dropout": 0.3, "weight_decay": 1e-4, "model": "nin"},
                                  {"optimizer": "sgd", "model_kwargs": {"width": 8}})
    assert options["learning_rate"] == 0.1 and options["model_kwargs"] == {"width": 8, "dropout": 0.3}
    assert isinstance(options["optimizer"], keras.optimizers.SGD) and options["optimizer"].weight_decay == pytest.approx(1e-4)
    assert "model" not in options


def test_param_replaces_or_adds_to_the_default_space():
    from hub_core.cli.sweep import _space

    space = _space(["strategy=head", "learning_rate=loguniform:1e-3:1e-1", "dropout=uniform:0:0.3"], "nin", "fine_tune", 3)
    assert space["strategy"] == sweep.Param("strategy", "choice", choices=("head",))  # one value fixes it
    assert space["learning_rate"] == sweep.Param("learning_rate", "loguniform", 1e-3, 1e-1)
    assert space["dropout"].high == pytest.approx(0.3)  # the plugin's own parameter, narrowed
    assert space["unfreeze"] == sweep.default_space("nin")["unfreeze"]  # the other defaults stay
    assert set(space) == set(sweep.default_space("nin"))
    assert set(_space(["momentum=0.9"], MODEL, "train", 3)) == {"learning_rate", "batch_size", "weight_decay", "momentum"}


def test_default_spaces_and_a_plugins_own_parameters():
    fine_tune = sweep.default_space(MODEL)
    assert set(fine_tune) == {"learning_rate", "strategy", "unfreeze", "label_smoothing"}
    assert sweep.default_space(MODEL, epochs=1)["strategy"].choices == ("head",)
    assert set(sweep.default_space(MODEL, "train")) == {"learning_rate", "batch_size", "weight_decay"}
    nin = sweep.default_space("nin")
    assert nin["dropout"] == sweep.Param("dropout", "uniform", 0.0, 0.5)
    # the parameter is a real builder argument of nin: the dropout before its classifier
    model = hub.load("nin", weights=None, **sweep.trial_options({"dropout": 0.3}, {})["model_kwargs"])
    assert model.get_layer("head_dropout").rate == pytest.approx(0.3)


def test_bad_sweeps_are_one_sentence_errors(digits, tmp_path, capsys):
    with pytest.raises(InvalidArgumentError, match="held-out data"):
        hub.sweep(MODEL, str(digits[0]), trials=1, epochs=1, sweep_dir=tmp_path / "s")
    with pytest.raises(InvalidArgumentError, match="sets run_dir"):
        hub.sweep(MODEL, str(digits[0]), str(digits[1]), trials=1, epochs=1, sweep_dir=tmp_path / "s", run_dir="x")
    with pytest.raises(InvalidArgumentError, match="pruner must be"):
        hub.sweep(MODEL, str(digits[0]), str(digits[1]), trials=1, epochs=1, sweep_dir=tmp_path / "s", pruner="mean")
    assert main(["sweep", MODEL, "--data", str(digits[0]), "--trials", "1", "--out", str(tmp_path / "s"),
                 "--param", "learning_rate"]) == 1
    assert "is not NAME=SPEC" in capsys.readouterr().err


def test_sweep_without_optuna_says_how_to_install_it(monkeypatch, digits, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "optuna", None)
    assert main(["sweep", MODEL, "--data", str(digits[0]), "--val", str(digits[1]), "--trials", "1",
                 "--out", str(tmp_path / "s")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and 'pip install "hub-core[sweep]"' in err


def _postgres_programs() -> pathlib.Path | None:
    """The folder of PostgreSQL's initdb and pg_ctl (Debian keeps them in /usr/lib/postgresql/VERSION/bin)."""
    import shutil

    found = shutil.which("pg_ctl")
    folders = [pathlib.Path(found).resolve().parent] if found else []
    folders += sorted(pathlib.Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    return next((f for f in folders if (f / "initdb").exists() and (f / "pg_ctl").exists()), None)


@pytest.fixture(scope="module")
def postgres_url():
    """A PostgreSQL server of its own, started on 127.0.0.1 in a temporary folder, as an Optuna RDB URL."""
    import shutil
    import socket
    import subprocess
    import tempfile

    programs = _postgres_programs()
    if programs is None:
        pytest.skip("PostgreSQL's initdb and pg_ctl are not installed (scripts/install-test-data.sh installs Debian's "
                    "postgresql)")
    pytest.importorskip("psycopg", reason='the PostgreSQL driver is not installed (pip install "hub-core[sweep]")')
    folder = pathlib.Path(tempfile.mkdtemp(prefix="hub-postgres-"))
    run_as = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: as Debian's postgres user
        import pwd

        user = pwd.getpwnam("postgres")
        os.chown(folder, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = folder / "data"
    try:
        subprocess.run([*run_as, programs / "initdb", "-D", data, "-U", "hub", "--auth=trust", "--no-sync"],
                       check=True, capture_output=True, timeout=120)
        subprocess.run([*run_as, programs / "pg_ctl", "-D", data, "-l", folder / "server.log", "-w", "-o",
                        f"-h 127.0.0.1 -p {port} -k {folder} -F", "start"], check=True, capture_output=True, timeout=120)
        yield f"postgresql://hub@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*run_as, programs / "pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True,
                       timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_the_same_command_completes_the_study(digits, postgres_url, tmp_path):
    """Two worker processes share a PostgreSQL study; Ctrl-C mid-trial, then the same command again."""
    import subprocess

    import optuna
    from optuna.trial import TrialState

    out = tmp_path / "ctrl_c"
    epochs = 6  # the signal comes after a trial's first checkpoint: the epochs after it keep the trial running meanwhile
    arguments = ["sweep", MODEL, "--data", str(digits[0]), "--val", str(digits[1]), "--trials", "2", "--epochs", str(epochs),
                 "--out", str(out), "--storage", postgres_url, "--pruner", "none", "--param", "strategy=two_phase",
                 "--param", "unfreeze=1"]
    # its own process group, as a terminal's foreground job: Ctrl-C reaches the command and its workers. A shell's
    # background job (a CI script run with &) ignores SIGINT, and children inherit that: give it the terminal's default.
    first = subprocess.Popen([sys.executable, "-m", "hub_core.cli", *arguments, "--workers", "2"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 300
    while not (out / sweep.HPARAMS).is_dir() and first.poll() is None and time.time() < deadline:
        time.sleep(0.2)  # the study exists once the HParams config is written
    storage = optuna.storages.RDBStorage(postgres_url)
    study_id = storage.get_study_id_from_name("ctrl_c")
    interrupted = []
    while first.poll() is None and time.time() < deadline and not interrupted:
        time.sleep(0.1)
        trials = storage.get_all_trials(study_id)
        running = [t for t in trials if t.state == TrialState.RUNNING
                   and (out / t.user_attrs.get("run", "-") / runs.CHECKPOINTS / runs.MANIFEST).exists()]
        if running:  # a trial past its first epoch (checkpointed), with epochs to go
            os.killpg(first.pid, signal.SIGINT)
            interrupted = [t.number for t in running]
    _, err = first.communicate(timeout=120)
    assert interrupted, f"no trial was caught mid-run: {err[-2000:]}"
    assert first.returncode == 130 and "hub: interrupted" in err and "Traceback" not in err, err[-2000:]
    after_ctrl_c = {t.number: t for t in storage.get_all_trials(study_id)}
    assert not [t for t in after_ctrl_c.values() if t.state == TrialState.RUNNING]  # each interrupted trial failed
    done_first = {n: (out / t.user_attrs["run"] / runs.FINAL_MODEL).stat().st_mtime_ns
                  for n, t in after_ctrl_c.items() if t.state == TrialState.COMPLETE}

    # the same command again (here, in this process, with one worker: a second pair of processes would only cost time)
    assert main(arguments) == 0
    trials = storage.get_all_trials(study_id)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 2 and len({t.user_attrs["run"] for t in complete}) == 2
    for number, mtime in done_first.items():  # a finished trial is not run again
        assert (out / after_ctrl_c[number].user_attrs["run"] / runs.FINAL_MODEL).stat().st_mtime_ns == mtime
    retries = {t.user_attrs["retry_of"]: t for t in complete if "retry_of" in t.user_attrs}
    for number in interrupted:  # each interrupted trial once more, with its parameters and run directory
        assert after_ctrl_c[number].state == TrialState.FAIL
        assert retries[number].params == after_ctrl_c[number].params
        assert retries[number].user_attrs["run"] == after_ctrl_c[number].user_attrs["run"]
    summary = sweep.read_summary(out)
    assert summary["space"]["strategy"] == "two_phase" and {"learning_rate", "label_smoothing"} <= set(summary["space"])
    by_number = {t.number: t for t in trials}
    for trial in complete:
        history = runs.read_json(out / trial.user_attrs["run"] / runs.METRICS)["history"]["val_accuracy"]
        assert len(history) == epochs
        # both phases' epochs reached the pruner (a retry reports the epochs after its checkpoint)
        reported = dict(by_number[trial.user_attrs["retry_of"]].intermediate_values) if "retry_of" in trial.user_attrs else {}
        reported.update(trial.intermediate_values)
        assert reported == pytest.approx(dict(enumerate(history)))
