"""2DPASS (Yan et al., ECCV 2022): 3D point-voxel branch, 2D ResNet FCN, MSFSKD fusion."""
from paddlexseg._autoimport import import_submodules

import_submodules(__name__, __path__)
