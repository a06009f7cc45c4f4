"""Where each dataset's table lives. Paths are built from ids, never from names, so no
dataset name can reach outside the warehouse."""

from __future__ import annotations

import os
import shutil
import uuid


class Warehouse:
    """The root folder holding one sub-folder per organisation, one table per dataset."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)

    def org_folder(self, org_id: uuid.UUID) -> str:
        return os.path.join(self.root, org_id.hex)

    def table(self, org_id: uuid.UUID, dataset_id: uuid.UUID) -> str:
        """The table folder of one dataset (created on first use)."""
        path = os.path.join(self.org_folder(org_id), dataset_id.hex)
        os.makedirs(path, exist_ok=True)
        return path

    def remove_table(self, org_id: uuid.UUID, dataset_id: uuid.UUID) -> None:
        """Delete a dataset's table folder with every version in it (gone already is fine)."""
        shutil.rmtree(os.path.join(self.org_folder(org_id), dataset_id.hex), ignore_errors=True)
