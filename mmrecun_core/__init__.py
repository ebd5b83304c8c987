"""The science of mmrecun: interaction data, graphs, MGCN/LightGCN, losses, training, metrics.

Pure PyTorch/NumPy/SciPy. No Airflow, no object storage, no file formats beyond checkpoint I/O.
The device is chosen at run time (:func:`mmrecun_core.device.resolve_device`).
"""
