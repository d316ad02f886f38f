"""Where the course is published is one setting (``repository.url`` and ``.branch`` in
``_config.yml``); the launch buttons and every chapter's set-up cell follow from it
(``scripts/publish_config.py``). These tests fail when a set-up cell or a button disagrees with
the setting, and check what the set-up cell does in each case, in a real IPython shell."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import load_script

ROOT = Path(__file__).resolve().parents[1]
publish_config = load_script("publish_config")

URL = "https://github.com/some-teacher/backprop-course"


def test_every_setup_cell_and_button_agrees_with_config():
    """The test that fails when a chapter's set-up cell, or a button, disagrees with
    ``_config.yml`` (``python scripts/publish_config.py`` rewrites them)."""
    assert publish_config.check(ROOT) == []
    chapters = publish_config.notebooks(ROOT)
    assert {p.name for p in chapters} >= {"01_cifar10.ipynb", "02_backprop.ipynb",
                                          "_template.ipynb"}


def test_no_launch_buttons_point_nowhere():
    """Unpublished, the book has no launch, repository or issues buttons; published, it has
    Binder's and Colab's, for the repository the set-up cells install from."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    url = config["repository"]["url"]
    buttons = [config["launch_buttons"]["binderhub_url"], config["launch_buttons"]["colab_url"],
               config["html"]["use_repository_button"], config["html"]["use_issues_button"]]
    if url:
        assert all(buttons)
    else:
        assert not any(buttons)


@pytest.fixture
def book_copy(tmp_path):
    """``_config.yml`` and the chapters, copied into a temporary folder."""
    shutil.copy(ROOT / "_config.yml", tmp_path)
    shutil.copytree(ROOT / "chapters", tmp_path / "chapters",
                    ignore=shutil.ignore_patterns("*.md", "*.svg", ".ipynb_checkpoints"))
    return tmp_path


def _setup_source(path: Path) -> str:
    return "".join(publish_config.setup_cell_of(json.loads(path.read_text()))["source"])


def test_publishing_rewrites_buttons_and_every_setup_cell(book_copy):
    config_before = (book_copy / "_config.yml").read_text()
    notebooks_before = {p: p.read_text() for p in publish_config.notebooks(book_copy)}

    assert publish_config.main([URL + ".git", "--branch", "course-2026",
                                "--root", str(book_copy)]) == 0
    assert publish_config.check(book_copy) == []
    config = yaml.safe_load((book_copy / "_config.yml").read_text())
    assert config["repository"] == {"url": URL, "branch": "course-2026"}
    assert config["launch_buttons"]["binderhub_url"] == "https://mybinder.org"
    assert config["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert config["html"]["use_repository_button"] is True
    for path in publish_config.notebooks(book_copy):
        assert f'COURSE_LIB = "git+{URL}@course-2026"' in _setup_source(path)
        # Only the set-up cell changed.
        before, after = json.loads(notebooks_before[path]), json.loads(path.read_text())
        assert len(before["cells"]) == len(after["cells"])
        changed = [b["id"] for b, a in zip(before["cells"], after["cells"]) if b != a]
        assert changed == [publish_config.setup_cell_of(after)["id"]]
    # Every other line of _config.yml is kept, comments included.
    keys = ("url:", "branch:", "binderhub_url:", "colab_url:", "use_repository_button:",
            "use_issues_button:")
    kept = [line for line in config_before.splitlines() if not line.strip().startswith(keys)]
    assert kept == [line for line in (book_copy / "_config.yml").read_text().splitlines()
                    if not line.strip().startswith(keys)]

    # Publishing, then unpublishing (when the course was not published) gives back the bytes.
    repository = yaml.safe_load(config_before)["repository"]
    if not repository["url"]:
        assert publish_config.main(["--unpublish", "--branch", repository["branch"],
                                    "--root", str(book_copy)]) == 0
        assert (book_copy / "_config.yml").read_text() == config_before
        for path, text in notebooks_before.items():
            assert path.read_text() == text, path.name


def test_check_names_what_disagrees(book_copy, capsys):
    path = book_copy / "chapters" / "03_numpy_mlp.ipynb"
    nb = json.loads(path.read_text())
    cell = publish_config.setup_cell_of(nb)
    cell["source"] = [line.replace("course_lib[chapters]", "course_lb[chapters]")
                      for line in cell["source"]]
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    config = book_copy / "_config.yml"
    config.write_text(config.read_text().replace('colab_url: ""',
                                                 "colab_url: https://colab.research.google.com"))
    problems = publish_config.check(book_copy)
    assert any("03_numpy_mlp.ipynb: the set-up cell differs" in p for p in problems), problems
    if not publish_config.read_setting(book_copy)[0]:
        assert any("launch_buttons.colab_url" in p for p in problems), problems
    assert publish_config.main(["--check", "--root", str(book_copy)]) == 1
    assert "03_numpy_mlp.ipynb" in capsys.readouterr().err
    # Running the script without arguments puts everything back in line with _config.yml.
    (book_copy / "_config.yml").write_text((ROOT / "_config.yml").read_text())
    assert publish_config.main(["--root", str(book_copy)]) == 0
    assert publish_config.check(book_copy) == []


@pytest.mark.parametrize("url", ["https://gitlab.com/a/b", "git@github.com:a/b.git",
                                 "https://github.com/a", "https://github.com/a/b/tree/main",
                                 "https://github.com/../..", "https://github.com/a/..",
                                 "https://github.com/-a/b", "https://github.com/a--b/c",
                                 "https://github.com/" + "a" * 40 + "/b",
                                 "https://github.com/a/b\n/c"])
def test_only_github_repositories_are_accepted(book_copy, url):
    """Colab opens notebooks from GitHub only; anything else is refused, nothing written."""
    before = (book_copy / "_config.yml").read_text()
    assert publish_config.main([url, "--root", str(book_copy)]) == 2
    assert (book_copy / "_config.yml").read_text() == before


# What the set-up cell does, in a real IPython shell --------------------------------------------
@pytest.fixture
def shell(monkeypatch):
    """An IPython shell whose ``%pip`` is recorded (and "installs" course_lib when asked to),
    and in which ``importlib.util.find_spec("course_lib")`` answers as ``present`` says."""
    from IPython.core.interactiveshell import InteractiveShell

    state = {"present": True, "pip": [], "pip_works": True}
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        if name == "course_lib" and not state["present"]:
            return None
        return real_find_spec(name, *args, **kwargs)

    def pip(line):
        state["pip"].append(line)
        if state["pip_works"]:
            state["present"] = True

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    monkeypatch.delenv(publish_config.ENV_VAR, raising=False)
    ip = InteractiveShell.instance()
    ip.register_magic_function(pip, "line", "pip")
    yield ip, state
    InteractiveShell.clear_instance()


def _run(ip, source):
    result = ip.run_cell(source, silent=True)
    return result.error_in_exec or result.error_before_exec


def test_setup_cell_does_nothing_where_course_lib_is_there(shell):
    ip, state = shell
    assert _run(ip, publish_config.setup_cell(URL, "main")) is None
    assert state["pip"] == []


def test_setup_cell_installs_from_the_published_repository(shell):
    ip, state = shell
    state["present"] = False
    assert _run(ip, publish_config.setup_cell(URL, "main")) is None
    assert state["pip"] == [f'install -q "course_lib[chapters] @ git+{URL}@main"']


def test_setup_cell_installs_from_the_environment_variable_first(shell, monkeypatch):
    ip, state = shell
    state["present"] = False
    monkeypatch.setenv(publish_config.ENV_VAR, "git+file:///tmp/fork@dev")
    for url in (URL, ""):
        state["present"] = False
        assert _run(ip, publish_config.setup_cell(url, "main")) is None
    assert state["pip"] == ['install -q "course_lib[chapters] @ git+file:///tmp/fork@dev"'] * 2


def test_setup_cell_stops_with_one_message_when_unpublished(shell):
    ip, state = shell
    state["present"] = False
    error = _run(ip, publish_config.setup_cell("", "main"))
    assert isinstance(error, RuntimeError)
    assert "COURSE_LIB_URL" in str(error) and "not installed" in str(error)
    assert state["pip"] == []


def test_setup_cell_says_when_pip_failed(shell):
    ip, state = shell
    state["present"], state["pip_works"] = False, False
    error = _run(ip, publish_config.setup_cell(URL, "main"))
    assert isinstance(error, RuntimeError)
    assert f"Installing course_lib from git+{URL}@main failed" in str(error)


# Branch names and values YAML would retype --------------------------------------------------
REFUSED_BRANCHES = [".", "main.", "a//b", "x.lock", "main\n", "a..b", "-x", "a/", "/a",
                    ".hidden", "a/.b", "a b", "a~b", "a^b", "a:b", "a?b", "a*b", "a[b", "a\\b",
                    "a@{b", "@"]
GOOD_BRANCHES = ["main", "course-2026", "release/1.10", "1.10", "no", "v1.2.3", "a_b"]


@pytest.mark.parametrize("branch", REFUSED_BRANCHES)
def test_branch_names_git_refuses_are_refused(book_copy, branch):
    before = (book_copy / "_config.yml").read_bytes()
    assert publish_config.main([URL, f"--branch={branch}", "--root", str(book_copy)]) == 2
    assert (book_copy / "_config.yml").read_bytes() == before


def test_the_branch_rules_agree_with_git():
    """git refuses every name refused above, and accepts every good one (which the script
    accepts too)."""
    import subprocess

    def git_accepts(name):
        return subprocess.run(["git", "check-ref-format", "--branch", name], cwd=ROOT,
                              capture_output=True).returncode == 0

    assert not [b for b in REFUSED_BRANCHES if git_accepts(b) and b not in ("@", "a@{b")]
    assert all(git_accepts(b) and publish_config.check_branch(b) == b for b in GOOD_BRANCHES)


@pytest.mark.parametrize("branch", ["1.10", "no", "true", "null"])
def test_a_branch_is_written_quoted_so_yaml_keeps_it_a_string(book_copy, branch):
    assert publish_config.main([URL, "--branch", branch, "--root", str(book_copy)]) == 0
    assert f'  branch: "{branch}"\n' in (book_copy / "_config.yml").read_text()
    assert publish_config.read_setting(book_copy) == (URL, branch)
    assert publish_config.check(book_copy) == []


@pytest.mark.parametrize("value, retyped", [("1.10", "1.1"), ("no", "False"), ("2026", "2026")])
def test_check_notices_a_hand_edited_value_yaml_retypes(book_copy, capsys, value, retyped):
    config = book_copy / "_config.yml"
    text = config.read_text()
    assert '  branch: "main"\n' in text
    config.write_text(text.replace('  branch: "main"\n', f"  branch: {value}\n"))
    assert publish_config.main(["--check", "--root", str(book_copy)]) == 2
    err = capsys.readouterr().err
    assert f"repository.branch is {retyped} " in err and "write it in double quotes" in err


def test_lines_in_any_hand_written_style_are_kept_byte_for_byte(book_copy):
    """Publishing rewrites only its own lines, whatever the style of the others (a YAML
    round trip, ruamel.yaml's included, would re-indent these, which is why the script edits
    lines)."""
    config = book_copy / "_config.yml"
    original = ("---\n" + config.read_text()
                + "extra_list:\n- a\n-   b\nextra_map:\n    key:    value   # note\n")
    config.write_text(original)
    assert publish_config.main([URL, "--branch", "dev", "--root", str(book_copy)]) == 0
    assert publish_config.main(["--unpublish", "--branch", "main", "--root",
                                str(book_copy)]) == 0
    assert config.read_text() == original
