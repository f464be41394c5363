"""Keras' ``keras.utils`` names that training needs: :class:`PyDataset` (alias ``Sequence``),
:func:`image_dataset_from_directory`, one image file at a time (:func:`load_img`,
:func:`img_to_array`), ..."""

from scratchnet.config import (
    disable_interactive_logging,
    enable_interactive_logging,
    is_interactive_logging_enabled,
)
from scratchnet.layers.input_layer import set_random_seed
from scratchnet.utils import bounding_boxes
from scratchnet.utils.audio_dataset import AudioDataset, audio_dataset_from_directory
from scratchnet.utils.config_object import Config
from scratchnet.utils.feature_space import FeatureSpace
from scratchnet.utils.image_dataset import ImageDataset, image_dataset_from_directory
from scratchnet.utils.image_files import img_to_array, load_img
from scratchnet.utils.keras_helpers import (
    Progbar,
    array_to_img,
    get_file,
    get_source_inputs,
    pack_x_y_sample_weight,
    save_img,
    split_dataset,
    unpack_x_y_sample_weight,
)
from scratchnet.utils.model_visualization import model_to_dot, plot_model
from scratchnet.utils.numerical import normalize, to_categorical
from scratchnet.utils.py_dataset import PyDataset, Sequence
from scratchnet.utils.sequences import pad_sequences
from scratchnet.utils.serialization import (
    CustomObjectScope,
    custom_object_scope,
    deserialize_keras_object,
    get_custom_objects,
    get_registered_name,
    get_registered_object,
    register_keras_serializable,
    serialize_keras_object,
)
from scratchnet.utils.text_dataset import (
    TextDataset,
    TimeseriesDataset,
    text_dataset_from_directory,
    timeseries_dataset_from_array,
)


def is_keras_tensor(x) -> bool:
    """True for a symbolic tensor (``sn.Input(...)`` and what layers make from it)."""
    from scratchnet.backend import is_keras_tensor as check

    return check(x)


def standardize_dtype(dtype) -> str:
    """Keras' dtype name for ``dtype`` (``"float32"``, ``"int64"``, ``None`` -> floatx)."""
    from scratchnet.backend import standardize_dtype as standardize

    return standardize(dtype)


def clear_session(free_memory: bool = True) -> None:
    """Keras' ``clear_session``, which course notebooks call before building a new model. Keras
    drops its global graph state and restarts its name counters; scratchnet has no graph state
    and each model names its own layers, so what it restarts is the counters of
    ``backend.get_uid`` (and with them the names of unnamed ``sn.Variable``s: ``variable``,
    ``variable_1``, ...)."""
    from scratchnet import config

    config.reset_uids()

__all__ = ["Config", "enable_interactive_logging", "disable_interactive_logging",
           "is_interactive_logging_enabled",
           "PyDataset", "Sequence", "image_dataset_from_directory", "ImageDataset", "set_random_seed",
           "FeatureSpace", "plot_model", "model_to_dot", "to_categorical", "load_img", "img_to_array",
           "clear_session",
           "pad_sequences", "text_dataset_from_directory", "TextDataset",
           "timeseries_dataset_from_array", "TimeseriesDataset", "normalize",
           "audio_dataset_from_directory", "AudioDataset",
           "Progbar", "array_to_img", "save_img", "get_source_inputs", "pack_x_y_sample_weight",
           "unpack_x_y_sample_weight", "split_dataset", "CustomObjectScope", "custom_object_scope",
           "deserialize_keras_object", "serialize_keras_object", "get_custom_objects",
           "get_registered_name", "get_registered_object", "register_keras_serializable",
           "is_keras_tensor", "standardize_dtype", "get_file", "bounding_boxes"]
