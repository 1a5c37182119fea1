"""Name pools for synthetic patients, varied by broad ethnic background so linkage faces realistic names.

Lists are common given and family names in London (general knowledge); every name is ASCII letters, hyphen or
apostrophe, so JSON and CSV writers need no escaping (tests/synth check this). Nicknames drive the identifier
noise of the social-care and hospital feeds.
"""

from __future__ import annotations

import numpy as np

# Pools by 6-group index 1..5 (White, Mixed, Asian, Black, Chinese/other); Mixed draws from White and Black.
_MALE = {
    1: "Oliver George Harry Jack James William Thomas Charlie Daniel Joseph Samuel David Michael Robert Peter "
    "John Paul Richard Matthew Andrew Christopher Alexander Edward Patrick Sean Liam Tomasz Piotr Luca Marco "
    "Mehmet Ali Stefan Dimitri Ian Stephen Anthony Mark Kevin Gary",
    3: "Mohammed Muhammad Abdul Rahim Imran Amir Arjun Rohan Rahul Sanjay Vijay Raj Anil Harpreet Gurpreet "
    "Jaspal Sunil Ravi Karim Shahid Tariq Aarav Vihaan Ibrahim Yusuf Hamza Zain Faisal Nadeem Asif",
    4: "Kwame Kofi Chinedu Emeka Oluwaseun Tunde Femi Ade Samuel Daniel Joshua Emmanuel Michael David Isaac "
    "Jerome Marcus Tyrone Andre Abdi Mohamed Ahmed Yonas Kelechi Olu",
    5: "Wei Jun Hao Ming Lei Jian Chen Kenji Minh Duc Omar Ali Hassan Reza Carlos Diego Mateo Luis Karim Yusuf",
}
_FEMALE = {
    1: "Olivia Amelia Isla Ava Emily Sophie Grace Jessica Charlotte Lucy Emma Hannah Sarah Elizabeth Margaret "
    "Susan Patricia Catherine Mary Anne Helen Rebecca Laura Rachel Joanna Agnieszka Katarzyna Maria Giulia "
    "Elif Ayse Eleni Niamh Siobhan Karen Julie Claire Victoria",
    3: "Fatima Ayesha Aisha Zara Priya Anjali Sunita Kiran Harjit Manjit Simran Neha Pooja Shreya Nadia Sana "
    "Amina Maryam Rukhsana Shabana Farzana Nasreen Anika Divya Meera Sophia",
    4: "Abena Adwoa Ama Chioma Ngozi Funmilayo Folake Yetunde Grace Blessing Precious Mercy Faith Esther "
    "Naomi Ruth Keisha Shanice Jasmine Tanisha Hodan Amina Fadumo Nia Imani",
    5: "Mei Ling Xiu Yan Hui Jing Li Na Yuki Hana Linh Thi Lan Leila Shirin Maryam Sara Camila Lucia Valentina "
    "Sofia Daniela Noor Layla",
}
_FAMILY = {
    1: "Smith Jones Williams Taylor Brown Davies Evans Wilson Thomas Johnson Roberts Robinson Thompson Wright "
    "Walker White Edwards Hughes Green Hall Wood Harris Lewis Martin Jackson Clarke Clark Turner Hill Scott "
    "Cooper Morris Ward Moore King Watson Baker Harrison Morgan Patel O'Brien Murphy Kelly O'Connor Ryan "
    "Nowak Kowalski Wisniewski Rossi Russo Yilmaz Kaya Georgiou Papadopoulos Silva Santos Fernandes Cohen "
    "Levy Fitzgerald Bennett Carter Mitchell Phillips Parker Collins Stewart Morrison Webb",
    3: "Patel Shah Singh Kaur Khan Ahmed Ali Hussain Begum Rahman Islam Uddin Miah Chowdhury Hossain Sharma "
    "Gupta Kumar Mistry Desai Mehta Joshi Iqbal Akhtar Malik Butt Qureshi Sheikh Siddiqui Bibi Gill Sandhu "
    "Dhillon Rai Kapoor Nair Pillai",
    4: "Okafor Okeke Adeyemi Adebayo Mensah Boateng Asante Owusu Osei Oyelaran Johnson Williams Campbell "
    "Brown Thomas Francis Grant Henry Richards Samuels Clarke Mohamed Hassan Abdi Warsame Tesfaye Bekele "
    "Nwosu Eze Ogunleye Oladipo Agyeman",
    5: "Chen Wang Li Zhang Liu Wong Lee Lam Cheung Tan Nguyen Tran Le Pham Hosseini Karimi Rahimi Haddad Khalil "
    "Mansour Garcia Rodriguez Gonzalez Lopez Martinez Torres Suzuki Tanaka Kim Park",
}

#: Formal given name -> nickname (identifier noise: people are often recorded under the name they use).
NICKNAMES: dict[str, str] = {
    "William": "Bill", "Robert": "Bob", "Richard": "Dick", "James": "Jim", "Thomas": "Tom", "Michael": "Mike",
    "Daniel": "Dan", "Joseph": "Joe", "Samuel": "Sam", "David": "Dave", "Peter": "Pete", "Matthew": "Matt",
    "Andrew": "Andy", "Christopher": "Chris", "Alexander": "Alex", "Edward": "Ed", "Anthony": "Tony",
    "Stephen": "Steve", "Elizabeth": "Liz", "Margaret": "Maggie", "Catherine": "Kate", "Patricia": "Pat",
    "Rebecca": "Becky", "Victoria": "Vicky", "Jessica": "Jess", "Charlotte": "Lottie", "Susan": "Sue",
    "Joanna": "Jo", "Olivia": "Liv", "Emily": "Em", "Mohammed": "Mo", "Muhammad": "Mo", "Abdul": "Abdi",
    "Oluwaseun": "Seun", "Funmilayo": "Funmi", "Emmanuel": "Manny", "Kelechi": "Kele", "Harpreet": "Harry",
}  # fmt: skip


def _pool(text_by_group: dict[int, str], group6: int) -> np.ndarray:
    if group6 == 2:  # Mixed: White and Black pools together
        return np.array(text_by_group[1].split() + text_by_group[4].split())
    return np.array(text_by_group[group6].split())


POOLS_MALE = {g: _pool(_MALE, g) for g in range(1, 6)}
POOLS_FEMALE = {g: _pool(_FEMALE, g) for g in range(1, 6)}
POOLS_FAMILY = {g: _pool(_FAMILY, g) for g in range(1, 6)}


def draw_names(rng: np.random.Generator, group6: np.ndarray, is_male: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Given and family names for each person, drawn from the pool of their 6-group (vectorised per group)."""
    n = len(group6)
    given = np.empty(n, dtype=object)
    family = np.empty(n, dtype=object)
    for g in range(1, 6):
        sel = group6 == g
        k = int(sel.sum())
        if not k:
            continue
        male_pool, female_pool, fam_pool = POOLS_MALE[g], POOLS_FEMALE[g], POOLS_FAMILY[g]
        m = is_male[sel]
        # Zipf-like weights: the first names of a pool are the commonest.
        gi = np.where(
            m,
            male_pool[_zipf_index(rng, len(male_pool), k)],
            female_pool[_zipf_index(rng, len(female_pool), k)],
        )
        given[sel] = gi
        family[sel] = fam_pool[_zipf_index(rng, len(fam_pool), k)]
    return given, family


def _zipf_index(rng: np.random.Generator, size: int, n: int) -> np.ndarray:
    w = 1.0 / np.arange(1, size + 1) ** 0.6
    return rng.choice(size, size=n, p=w / w.sum())
