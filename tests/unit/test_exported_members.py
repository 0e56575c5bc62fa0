"""Pin the public API: everything in __all__ exists and nothing private leaks in."""

import edgeshade


def test_all_exported_members_exist() -> None:
    for name in edgeshade.__all__:
        assert hasattr(edgeshade, name), name
    assert {"connect", "task", "Fleet", "FleetResult", "SiteResult", "State",
            "ConfigError", "SiteError"} <= set(edgeshade.__all__)
    assert not [n for n in edgeshade.__all__ if n.startswith("_") and n != "__version__"]
