"""Builds the onexn_tf package; the TFLite delegate library is added by the delegate build (see README)."""

from setuptools import find_packages, setup

INSTALL_REQUIRES = [
    # TensorFlow and tf-keras are released together and must match.
    "tensorflow-cpu==2.21.*",
    "tf-keras==2.21.*",
    "tensorflow-model-optimization>=0.8.1,<0.9",
    "ai-edge-litert>=2.3,<2.4",
    "numpy>=1.26",
    "absl-py>=1.4",
    "tqdm>=4.60",
]

EXTRAS = {
    "dev": ["pytest>=8", "scikit-learn>=1.3", "matplotlib>=3.7"],
}

setup(
    name="onexn",
    version="0.1.0",
    description="1xN block pruning for Keras and a block-sparse TensorFlow Lite delegate",
    packages=find_packages(include=["onexn_tf", "onexn_tf.*"]),
    python_requires=">=3.10",
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["onexn = onexn_tf.cli:main"]},
)
