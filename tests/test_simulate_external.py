"""The simulated external cohort (a second population): ps2f.simulate with external_individuals."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ps2f.simulate import OUTPUT_FILES, SimulationConfig, simulate_cohort

# --------------------------------------------------------------------------------------------
# off: every file byte-identical to the simulator without an external cohort

#: Small configs (grammar only; and half eQTL, interactions, methylation) and the sha256 of
#: each of their files, pinned on the simulator before the external cohort existed.
GOLDEN = {
    "grammar": (
        SimulationConfig(n_individuals=30, n_genes=4, spacing_bp=4000, seed=3),
        {
            "reference": "060553bfd77628461e1ba9a844b10b08fafe2c0e1bb10e6f6cda83272085df71",
            "reference_index": "9dd031ff0d5c390da9be8a701a75ba46d3bd5b5c2163c4c6d66392a8efc44e27",
            "genotypes": "d20d858139da0b894c85a8937450ba2a713d3ca1c872f8f2abfbeeb9365a0912",
            "genotypes_index": "3f94999f2f94cad9aa159c2f9e7b406b5100332aa45b778e4cf1593e51cdc5ff",
            "genes": "56137ed6416e7ee0f5f526238788f7bbd042f46caa78e64fa01455a10a5f91f7",
            "expression": "53e76a6384c775d4372e693ff9e08fd2c9f26c7f34f02e295b59c851faff658b",
            "expression_index": "7c82da36433b63b7748eec3a0c4cd7fe7a8315c789c05255dede1a9e2423373d",
            "covariates": "07d39b48df94ab20ed189d6580721f3630a1e505415dcbbce770edae896359a1",
            "truth": "98563104490dc94a712e22f41e8896c56b42a269ed2deb7892f297fd3b041588",
            "truth_variants": "69243faf7d371ee3c46ed55fed8d6468f7ccc82c3373e58e7cf65d09567ae1c4",
            "truth_genes": "81e330b0a659f48d75ee32b4594969002f4c50684eb11ca6917a56644b713c3a",
            "grammar": "2bfb6124eb204f6b83b40b3955c2a706230adfb59184087290434093bd57b7ca",
            "config": "0ec7aca7e2b369badb8ef7939d64652c03de3ffa75f3c4d5a58acbc7e9e6cc1d",
        },
    ),
    "mixed": (
        SimulationConfig(
            n_individuals=30,
            n_genes=4,
            spacing_bp=4000,
            seed=4,
            grammar_weight=0.5,
            nonlinearity="interaction",
            modality="methylation",
        ),  # fmt: skip
        {
            "reference": "dfde2a5a7008605089dfb70602ee28f87a55a0436c30c6a202cc749d4e44cb5e",
            "reference_index": "9dd031ff0d5c390da9be8a701a75ba46d3bd5b5c2163c4c6d66392a8efc44e27",
            "genotypes": "efb4f7df1bfb366d5c171ee82e4ae380ad2fb582de3b159cd120290fae67ea42",
            "genotypes_index": "d215616330a94c881e50f533160985894f8f605f14fb218fb779150def67142f",
            "genes": "c9b5c8a6bd2c09f8f21874763a1166ae47b9f65a609d7a4831b42f3f39513b01",
            "expression": "71cc892b6468b99e700c592ed5d18781f766aa249f15fb963936b6d529fe6df9",
            "expression_index": "6fd0cfadd46bafc5d9034264c76443cbb894156cdbccbfab180a19167dd1528d",
            "covariates": "97f2d824dc22d0d38978b1528d5d5da4d962387dcde9e0fbee8f76e21c0e0e2e",
            "truth": "e4d4acc823f597f4ab87a33a6e603e125d88c9fe21a750352c747192e2f8ae24",
            "truth_variants": "0aae650665c74cf6d4041e66261842bb39fdb6e38b23c7d8e7c9d3161de8672b",
            "truth_genes": "6e763c420b9f3059257f54c6a741d7512735d99e55b611a0b9f8b863e2c522d1",
            "grammar": "2a4ef427ff9a48ac99522ac781859efd08fd1d3210e61a48775d16b3cec4a56e",
            "config": "8d5d3d3b0ec323b967216938207ab5b9df76e5d029ef6414ffe941fbd52feed5",
        },
    ),
}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_off_every_file_is_byte_identical_to_the_simulator_without_it(name, tmp_path):
    config, hashes = GOLDEN[name]
    paths = simulate_cohort(config, tmp_path)
    assert set(paths) == set(OUTPUT_FILES)
    assert {key: _sha256(paths[key]) for key in OUTPUT_FILES} == hashes
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(OUTPUT_FILES.values())
