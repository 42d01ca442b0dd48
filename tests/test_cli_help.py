"""The command line speaks command-line: `--help` gives every optimizer's default learning rate,
and a missing data set is explained with the flags (`--data-dir`), not Python's ``path=``."""

import re

from tinygrad_ngd import cli, compare


def _compare_help(capsys):
    parser = cli.build_parser()
    try:
        parser.parse_args(["compare", "--help"])
    except SystemExit:
        pass
    return " ".join(capsys.readouterr().out.split())      # argparse wraps lines


def test_lr_help_lists_every_optimizer_default(capsys):
    text = _compare_help(capsys)
    lr_help = text.split("--lr LR learning rate", 1)[1].split("--epochs EPOCHS", 1)[0]
    for name, spec in compare.OPTIMIZERS.items():
        # argparse may break a hyphenated name at the hyphen ("sgdm- clip")
        assert re.search(rf"(?<![\w-]){re.escape(name).replace('-', '- ?')} {spec.lr:g}\b", lr_help), \
            f"--lr help does not give {name}'s default {spec.lr:g}: {lr_help}"
    assert "(0.01) or" not in lr_help


def test_missing_data_error_names_the_flag(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TINYGRAD_NGD_DATA", str(tmp_path / "empty"))
    for dataset in ("mnist", "cifar10", "cifar100"):
        code = cli.main(["compare", "--dataset", dataset, "--data-dir", str(tmp_path / "nowhere"), "--quick",
                         "--out", str(tmp_path / "out")])
        err = capsys.readouterr().err
        assert code == cli.EXIT_SETUP
        assert "--data-dir" in err and "path=" not in err, err
    cli.main(["compare", "--dataset", "mnist", "--quick", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert "--dataset mnist-subset" in err and "load_mnist_subset()" not in err, err


def test_command_line_wording_rewrites_only_the_advice():
    msg = "X not found; looked in: /a. Download it and pass it as path=, or put them in $D/x/."
    assert compare.command_line_wording(msg) == \
        "X not found; looked in: /a. Download it and pass it with --data-dir, or put them in $D/x/."
    assert compare.command_line_wording("nothing to change") == "nothing to change"
