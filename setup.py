"""Packaging for difflab: everything is read from settings.ini (the nbdev 2 layout)."""
from configparser import ConfigParser
from pathlib import Path
import setuptools

here = Path(__file__).parent
cfg = ConfigParser(delimiters=['='])
cfg.read(here/'settings.ini', encoding='utf-8')
cfg = cfg['DEFAULT']

licenses = {'apache2': ('Apache Software License 2.0', 'OSI Approved :: Apache Software License')}
lic = licenses[cfg['license']]
statuses = ['Planning', 'Pre-Alpha', 'Alpha', 'Beta', 'Production/Stable', 'Mature', 'Inactive']
readme = here/'README.md'

# extras: difflab[widgets], difflab[bench], and difflab[dev], which includes both
extras = {k: cfg[f'{k}_requirements'].split() for k in ('widgets', 'bench', 'dev')}
extras['dev'] += extras['widgets'] + extras['bench']

setuptools.setup(
    name=cfg['lib_name'],
    version=cfg['version'],
    description=cfg['description'],
    long_description=readme.read_text(encoding='utf-8') if readme.exists() else cfg['description'],
    long_description_content_type='text/markdown',
    author=cfg['author'], author_email=cfg['author_email'],
    url=cfg['git_url'], license=lic[0], keywords=cfg['keywords'].split(),
    classifiers=[f"Development Status :: {cfg['status']} - {statuses[int(cfg['status'])]}",
                 f"Intended Audience :: {cfg['audience']}",
                 f"License :: {lic[1]}", f"Natural Language :: {cfg['language']}",
                 'Programming Language :: Python :: 3'],
    python_requires=f">={cfg['min_python']}",
    # the library, plus the small shipped files in data/ and the experiment configs, installed as
    # difflab/shipped and difflab/configs
    packages=setuptools.find_packages(include=['difflab', 'difflab.*']) + ['difflab.shipped', 'difflab.configs'],
    package_dir={'difflab.shipped': 'data', 'difflab.configs': 'configs'},
    package_data={'difflab.shipped': ['*.pt', '*.npz', '*.json', '*.md', 'pretrained/*.pt', 'pretrained/*.json', 'pretrained/*.md'], 'difflab.configs': ['*.yaml']},
    include_package_data=True,
    install_requires=cfg['requirements'].split(),
    extras_require=extras,
    entry_points={'console_scripts': cfg['console_scripts'].split(' '),
                  'nbdev': [f"{cfg['lib_path']}={cfg['lib_path']}._modidx:d"]},
    zip_safe=False,
)
