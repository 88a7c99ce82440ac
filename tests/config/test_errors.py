"""Every configuration problem is one ConfigError naming the file, the JSON path and what was expected."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.config.conftest import LoadFn, generator, provider
from wikismith.config.models import ConfigError, load_config


def raised(load: LoadFn, gen: Any, **kw: Any) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(gen, **kw)
    return info.value


def test_malformed_json_names_the_file_line_and_column(load: LoadFn, config_dir: Path) -> None:
    error = raised(load, '{"default_provider": "x",\n  "providers": {,}}')
    assert error.file == str(config_dir / "generator.json")
    assert str(error).startswith(f"{config_dir / 'generator.json'}: not valid JSON")
    assert "line 2" in str(error)


def test_a_config_file_that_is_not_utf8_is_a_config_error(config_dir: Path) -> None:
    (config_dir / "generator.json").write_bytes(b'{"default_provider": "caf\xe9"}')
    with pytest.raises(ConfigError, match="not UTF-8") as info:
        load_config(config_dir, {})
    assert info.value.file == str(config_dir / "generator.json")


def test_a_wrong_type_names_the_json_path_and_the_value(load: LoadFn) -> None:
    error = raised(load, generator(x=provider(default_model=3)))
    assert error.path == "providers.x.default_model"
    assert "valid string" in str(error) and "got 3" in str(error)


def test_a_nested_wrong_type_names_the_full_path(load: LoadFn) -> None:
    error = raised(load, generator(x=provider(timeouts={"connect": "soon"})))
    assert error.path == "providers.x.timeouts.connect"
    assert "valid number" in str(error)


def test_a_negative_limit_is_refused(load: LoadFn) -> None:
    error = raised(load, generator(x=provider(limits={"requests_per_minute": 0})))
    assert error.path == "providers.x.limits.requests_per_minute"
    assert "greater than 0" in str(error)


def test_an_unknown_key_is_refused_not_ignored(load: LoadFn) -> None:
    error = raised(load, generator(x=provider(defualt_model="typo")))
    assert error.path == "providers.x.defualt_model" and "Extra inputs are not permitted" in str(error)


def test_a_top_level_array_is_refused(load: LoadFn) -> None:
    error = raised(load, "[1, 2]")
    assert error.path == "(root)" and "valid dictionary" in str(error)


def test_providers_is_required(load: LoadFn) -> None:
    error = raised(load, {"default_provider": "x"})
    assert error.path == "providers" and "Field required" in str(error)


def test_unknown_client_class_lists_the_known_ones(load: LoadFn) -> None:
    error = raised(load, generator(x=provider(client_class="MagicClient")))
    assert error.path == "providers.x.client_class"
    assert "unknown client_class 'MagicClient'" in str(error) and "OpenRouterClient" in str(error)


def test_a_provider_id_without_a_default_client_needs_client_class(load: LoadFn) -> None:
    spec = provider()
    del spec["client_class"]
    error = raised(load, generator(myvendor=spec))
    assert error.path == "providers.myvendor.client_class" and "client_class is required" in str(error)


def test_a_known_provider_id_gets_its_default_client(load: LoadFn) -> None:
    spec = provider()
    del spec["client_class"]
    config = load(generator(dashscope=spec))
    assert config.provider("dashscope").client_class == "DashscopeClient"


def test_default_provider_must_be_configured(load: LoadFn) -> None:
    error = raised(load, {"default_provider": "nope", "providers": {"x": provider()}})
    assert error.path == "default_provider" and "'nope' is not among providers (x)" in str(error)


def test_default_model_must_be_listed_when_custom_models_are_not_allowed(load: LoadFn) -> None:
    error = raised(load, generator(x=provider(default_model="other")))
    assert error.path == "providers.x.default_model" and "supportsCustomModel is false" in str(error)


def test_model_parameters_must_be_an_object(load: LoadFn) -> None:
    error = raised(load, generator(x=provider(models={"m": 0.7})))
    assert error.path == "providers.x.models.m" and "valid dictionary" in str(error)


def test_a_route_target_must_name_a_configured_provider(load: LoadFn) -> None:
    error = raised(load, {**generator(x=provider()), "routes": {"wiki": ["x/m", "ghost/m"]}})
    assert error.path == "routes.wiki[1]" and "'ghost/m'" in str(error)


def test_a_malformed_embedder_file_names_that_file(load: LoadFn, config_dir: Path) -> None:
    error = raised(load, None, embedder={"retriever": {"top_k": 0}})
    assert error.file == str(config_dir / "embedder.json") and error.path == "retriever.top_k"


def test_an_embedder_entry_without_a_client_class_is_refused(load: LoadFn) -> None:
    error = raised(load, None, embedder={"embedder_x": {"batch_size": 4}})
    assert error.path == "embedder_x.client_class" and "Field required" in str(error)
    assert error.file is not None and error.file.endswith("embedder.json")


def test_lang_default_must_be_supported(load: LoadFn) -> None:
    error = raised(load, None, lang={"supported_languages": {"en": "English"}, "default": "xx"})
    assert error.path == "default" and "lang.json" in str(error)


def test_repo_json_wrong_type(load: LoadFn) -> None:
    error = raised(load, None, repo={"file_filters": {"excluded_dirs": "node_modules"}})
    assert error.path == "file_filters.excluded_dirs" and "valid list" in str(error)


def test_a_missing_config_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nowhere", {})


def test_a_literal_key_in_a_wrongly_typed_entry_is_not_echoed(load: LoadFn) -> None:
    secret = "sk-literal-0123456789abcdef"
    error = raised(load, generator(x=provider(api_key=secret, headers=["Authorization: Bearer x"])))
    assert error.path == "providers.x.headers" and secret not in str(error)
    bad_key = raised(load, generator(x=provider(api_key={"value": secret})))
    assert bad_key.path == "providers.x.api_key" and secret not in str(bad_key)


GOOGLE_STYLE_KEY = "AIzaSyD-EXAMPLEexample0123456789abcdEF"  # no `sk-` shape, never registered


@pytest.mark.parametrize(
    ("spec", "path"),
    [
        ({"key": GOOGLE_STYLE_KEY}, "providers.x.key"),
        ({"query_params": {"key": [GOOGLE_STYLE_KEY]}}, "providers.x.query_params.key"),
        ({"headers": [{"X-Goog-Api-Key": GOOGLE_STYLE_KEY}]}, "providers.x.headers"),
    ],
    ids=["misplaced-key", "query-key-list", "headers-as-list"],
)
def test_a_key_in_a_misplaced_or_mistyped_entry_is_not_echoed(load: LoadFn, spec: dict[str, Any], path: str) -> None:
    error = raised(load, generator(x=provider(**spec)))
    assert error.path == path and GOOGLE_STYLE_KEY not in str(error)


@pytest.mark.parametrize(
    ("spec", "env", "named"),
    [
        ({"api_key_env": "VENDOR_KEY"}, {"VENDOR_KEY": "abc\ndef-0123456789"}, "VENDOR_KEY"),
        ({"api_key": "${VENDOR_KEY}"}, {"VENDOR_KEY": "abc\x00def-0123456789"}, "providers.x.api_key"),
        ({"headers": {"X-Goog-Api-Key": "${G}"}}, {"G": "abc\r\ndef-0123456789"}, "providers.x.headers.X-Goog-Api-Key"),
    ],
    ids=["api_key_env", "api_key", "header"],
)
def test_a_line_break_inside_a_key_is_a_config_error_that_hides_the_key(
    load: LoadFn, spec: dict[str, Any], env: dict[str, str], named: str
) -> None:
    config = load(generator(x=provider(**spec)), env=env)
    with pytest.raises(ConfigError, match="line break") as info:
        config.provider("x")
    assert named in str(info.value) and "0123456789" not in str(info.value)
