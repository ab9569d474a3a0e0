from setuptools import find_packages, setup

setup(
    name="paddlexseg",
    version="0.1.0",
    description="LiDAR, image and multi-modal segmentation ported from PyTorch to PaddlePaddle 3",
    packages=find_packages(include=["paddlexseg", "paddlexseg.*"]),
    package_data={"paddlexseg": ["datasets/labels/*.yaml", "datasets/labels/maps/*.yaml"]},
    python_requires=">=3.9",
    install_requires=[
        "paddlepaddle>=3.0,<3.4",  # CUDA users: install paddlepaddle-gpu instead, same versions
        "numpy>=1.26,<3",
        "pyyaml>=6.0",
        "visualdl==2.5.3",
        "tqdm>=4.66",
        "pillow>=10",
    ],
    extras_require={
        "convert": ["torch"],
        # ONNX export and ONNX Runtime deployment (docs/deploy.md); versions checked together
        "onnx": ["paddle2onnx==2.1.0", "onnx==1.17.0", "onnxruntime==1.32.0"],
        "mvsec": ["h5py"],
        # everything the test suite uses besides torch (the two PyTorch comparisons need
        # .[convert]): the official Cityscapes evaluator and its pyquaternion, h5py for MVSEC
        "test": ["pytest>=8", "cityscapesscripts==2.3.0", "pyquaternion==0.9.9", "h5py>=3.10"],
    },
)
