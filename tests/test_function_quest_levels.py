"""Function Quest levels: TOML in and out, and every malformed level refused by field."""

from importlib.resources import files
from pathlib import Path

import function_quest as fq
import pytest
from function_quest import Level, LevelError

KEY_AND_DOOR = files("function_quest").joinpath("levels", "key_and_door.toml").read_text()


def edited(old: str, new: str) -> str:
    assert old in KEY_AND_DOOR
    return KEY_AND_DOOR.replace(old, new, 1)


def test_shipped_levels_load_and_round_trip(tmp_path: Path) -> None:
    for name in fq.LEVELS:
        level = fq.load(name)
        path = tmp_path / f"{name}.toml"
        level.to_toml(path)
        assert Level.from_toml(path) == level
        assert Level.from_toml(level.to_toml()) == level
    door = fq.load("key_and_door")
    assert [f.name for f in door.functions][:3] == ["find_key", "use_key", "open_door"]
    assert door.essential == {"open_door"}
    delivery = fq.load("software_delivery")
    assert delivery.function("generate_code_local").fallback_for == "generate_code"
    assert delivery.function("summarize_code").reverse
    assert not delivery.deterministic


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('reads = ["map"]', 'reads = ["mapp"]', "functions[0].reads[0]: unknown kind 'mapp'"),
        ("cost = 0.5", "cost = -0.5", "functions[3].cost: must be finite and >= 0, got -0.5"),
        (
            'name = "knock"',
            'name = "find_key"',
            "functions[3].name: duplicate function name 'find_key'",
        ),
        (
            'initial = ["map"]',
            'initial = ["noise"]',
            "goals[0].kind: goal 'open_door' is unreachable",
        ),
        ('kind = "open_door"', 'kind = "treasure"', "goals[0].kind: unknown kind 'treasure'"),
        ('importance = "essential"', 'importance = "vital"', "goals[0].importance: must be one of"),
        ("budget = 10.0", "budget = 0", "budget: must be finite and > 0, got 0.0"),
        ("cost = 0.5", 'cost = "cheap"', "functions[3].cost: must be a number, got 'cheap'"),
        ("cost = 0.5", "cots = 0.5", "functions[3].cots: unknown field"),
        ('difficulty = "tutorial"', 'difficulty = "easyish"', "difficulty: must be one of"),
        (
            "cost = 0.5",
            "cost = 0.5\nfailure = 1.0",
            "functions[3].failure: a function that always fails",
        ),
        ('produces = ["noise"]', "produces = []", "functions[3].produces: a function must produce"),
        ('id = "key_and_door"', 'id = "key_and_door"\nid = "again"', "toml:"),
    ],
)
def test_a_bad_level_is_refused_naming_the_field(old: str, new: str, message: str) -> None:
    with pytest.raises(LevelError) as e:
        Level.from_toml(edited(old, new))
    assert message in str(e.value)
    assert isinstance(e.value, ValueError)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('name = "knock"', "name = 5", "functions[3].name: must be a string, got 5"),
        (
            'name = "knock"',
            'name = "knock"\nreverse = "no"',
            "functions[3].reverse: must be true or false, got 'no'",
        ),
        ('id = "key_and_door"', 'id = "key_and_door"\nseed = "abc"', "seed: must be an integer"),
        ('id = "key_and_door"', 'id = "key_and_door"\nmeta = 5', "meta: must be a table, got 5"),
        ('id = "key_and_door"', "id = 7", "id: must be a string, got 7"),
        ('title = "The key and the door"', "title = []", "title: must be a string"),
    ],
)
def test_a_level_file_is_checked_field_by_field_and_named(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    path = tmp_path / "door.TOML"  # any case of the suffix is a path, not TOML text
    path.write_text(edited(old, new))
    with pytest.raises(LevelError) as e:
        Level.from_toml(str(path))
    assert str(e.value).startswith(f"{path}: {message}")
    assert e.value.source == str(path)


def test_returns_must_be_text() -> None:
    data = fq.load("key_and_door").to_dict()
    data["functions"][0]["returns"] = 3
    with pytest.raises(LevelError, match=r"functions\[0\].returns: must be a string, got 3"):
        Level.from_dict(data)


def test_missing_and_unknown_levels() -> None:
    with pytest.raises(LevelError, match="functions: missing"):
        Level.from_dict({"id": "x", "kinds": {}, "initial": [], "goals": [], "budget": 1})
    with pytest.raises(KeyError, match="shipped levels: key_and_door, software_delivery"):
        fq.load("dungeon")
