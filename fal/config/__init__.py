"""Typed configuration: settings, protocol, fidelity switches, strategies, runtime, studies.

``config.yaml`` is validated twice: structurally by the JSON schema in ``workflow/schemas`` (inside
Snakemake, at parse time), and semantically here, with messages that name the offending key. Nothing
here imports torch, so the Snakefile can use it cheaply.

Layers: ``base`` (errors and checks) <- the leaf modules ``protocol``, ``fidelity``, ``setting``,
``strategy``, ``runtime`` (each imports only ``base``, each other's leaves and the torch-free catalogs
``fal.config.datasets``, ``fal.config.budgets``, ``fal.data.longtail``, ``fal.strategies.registry``,
``fal.config.algorithms``) <- ``study`` (study resolution). ``tests/test_layers.py`` checks it.
The names below are the package's public interface.
"""

from fal.config.base import ConfigError
from fal.config.fidelity import FIDELITY_PRESETS, FidelityConfig
from fal.config.protocol import FL_ALGORITHMS, MODELS, LocalModelConfig, ProtocolConfig
from fal.config.runtime import COMPILE_MODES, PRECISIONS, TRAINERS, RuntimeConfig
from fal.config.setting import PARTITIONS, SettingConfig
from fal.config.strategy import LOCAL_MODEL_KINDS, STRATEGY_FL_UPDATES, StrategyConfig
from fal.config.study import AnalysisConfig, Study, resolve_strategies, resolve_studies, resolve_study

__all__ = [
    "COMPILE_MODES",
    "FIDELITY_PRESETS",
    "FL_ALGORITHMS",
    "LOCAL_MODEL_KINDS",
    "MODELS",
    "PARTITIONS",
    "PRECISIONS",
    "STRATEGY_FL_UPDATES",
    "TRAINERS",
    "AnalysisConfig",
    "ConfigError",
    "FidelityConfig",
    "LocalModelConfig",
    "ProtocolConfig",
    "RuntimeConfig",
    "SettingConfig",
    "Study",
    "StrategyConfig",
    "resolve_strategies",
    "resolve_studies",
    "resolve_study",
]
