//! The analysis: which tasks are overdue, whose they are, each owner's open workload, and
//! which overdue tasks to hand to someone with less on their plate. Plain functions over
//! [`Task`]s; no JSON, no host calls.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use crate::date::Date;
use crate::tasks::Task;

/// Whose a task is. A user sorts before `Unassigned`, so that the unassigned section comes last
/// among sections with as many overdue tasks.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Owner {
    User(String),
    Unassigned,
}

impl Owner {
    pub fn user_id(&self) -> Option<&str> {
        match self {
            Owner::User(id) => Some(id),
            Owner::Unassigned => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct OverdueTask {
    pub task: Task,
    /// At least 1.
    pub days_overdue: i64,
}

/// One owner's overdue tasks, most overdue first.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    pub owner: Owner,
    pub open_hours: f64,
    pub tasks: Vec<OverdueTask>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OwnerSummary {
    pub owner: Owner,
    pub overdue: usize,
    /// The sum of the estimates of the owner's open tasks.
    pub open_hours: f64,
}

/// Moving an overdue task from one owner to another.
#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    pub task_id: String,
    pub title: String,
    pub from: String,
    pub to: String,
    pub hours: f64,
    /// The two owners' open hours once this and the earlier suggestions are taken.
    pub from_hours_after: f64,
    pub to_hours_after: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub today: Date,
    /// Distinct overdue tasks (a task with two owners counts once here, and in both sections).
    pub overdue_tasks: usize,
    /// Owners with overdue tasks: most overdue tasks first, then by user id, `Unassigned` last.
    pub sections: Vec<Section>,
    /// Every user who owns a task in the data source (open or not), and `Unassigned` when open
    /// tasks have no owner; ordered as the sections.
    pub owners: Vec<OwnerSummary>,
    /// Open hours per team member on average; the team is every user who owns a task.
    pub mean_open_hours: f64,
    pub suggestions: Vec<Suggestion>,
}

impl Report {
    /// Sections of users, leaving out `Unassigned`.
    pub fn owners_with_overdue(&self) -> usize {
        self.sections
            .iter()
            .filter(|section| section.owner != Owner::Unassigned)
            .count()
    }

    pub fn has_unassigned_overdue(&self) -> bool {
        self.sections
            .iter()
            .any(|section| section.owner == Owner::Unassigned)
    }
}

/// Analyses all rows of the data source as of `today`.
///
/// Workload is the sum of `Estimate (h)` over a user's open tasks; a task with several owners
/// counts in full for each. Suggestions relieve the team members above the mean, the most
/// loaded first: each of their overdue tasks, most overdue first, goes to the team member with
/// the fewest open hours at that point (who does not already own it), if that lowers the larger
/// of the two loads, and while the giver is still above the mean. Loads are updated after each
/// suggestion, so suggestions spread over the team. A task is suggested at most once.
pub fn analyze(tasks: &[Task], today: Date) -> Report {
    let mut loads: BTreeMap<String, f64> = BTreeMap::new();
    let mut unassigned_open_hours = 0.0;
    let mut unassigned_open = false;
    let mut overdue: BTreeMap<Owner, Vec<OverdueTask>> = BTreeMap::new();
    let mut overdue_tasks = 0;
    for task in tasks {
        for owner in &task.owners {
            let load = loads.entry(owner.clone()).or_insert(0.0);
            if task.is_open() {
                *load += task.estimate_hours;
            }
        }
        if task.owners.is_empty() && task.is_open() {
            unassigned_open = true;
            unassigned_open_hours += task.estimate_hours;
        }
        if !task.is_overdue(today) {
            continue;
        }
        overdue_tasks += 1;
        let entry = OverdueTask {
            task: task.clone(),
            days_overdue: task.due.map_or(0, |due| today.days_after(due)),
        };
        if task.owners.is_empty() {
            overdue.entry(Owner::Unassigned).or_default().push(entry);
        } else {
            for owner in &task.owners {
                overdue
                    .entry(Owner::User(owner.clone()))
                    .or_default()
                    .push(entry.clone());
            }
        }
    }
    let open_hours = |owner: &Owner| match owner {
        Owner::User(id) => loads.get(id).copied().unwrap_or(0.0),
        Owner::Unassigned => unassigned_open_hours,
    };

    let mut sections: Vec<Section> = overdue
        .into_iter()
        .map(|(owner, mut tasks)| {
            tasks.sort_by(|a, b| {
                (Reverse(a.days_overdue), &a.task.id).cmp(&(Reverse(b.days_overdue), &b.task.id))
            });
            Section {
                open_hours: open_hours(&owner),
                owner,
                tasks,
            }
        })
        .collect();
    sections.sort_by(|a, b| {
        (Reverse(a.tasks.len()), &a.owner).cmp(&(Reverse(b.tasks.len()), &b.owner))
    });

    let overdue_of = |owner: &Owner| {
        sections
            .iter()
            .find(|section| &section.owner == owner)
            .map_or(0, |section| section.tasks.len())
    };
    let mut owners: Vec<OwnerSummary> = loads
        .keys()
        .map(|id| Owner::User(id.clone()))
        .chain(unassigned_open.then_some(Owner::Unassigned))
        .map(|owner| OwnerSummary {
            overdue: overdue_of(&owner),
            open_hours: open_hours(&owner),
            owner,
        })
        .collect();
    owners.sort_by(|a, b| (Reverse(a.overdue), &a.owner).cmp(&(Reverse(b.overdue), &b.owner)));

    let mean_open_hours = if loads.is_empty() {
        0.0
    } else {
        loads.values().sum::<f64>() / loads.len() as f64
    };
    let suggestions = suggest(&sections, &loads, mean_open_hours);
    Report {
        today,
        overdue_tasks,
        sections,
        owners,
        mean_open_hours,
        suggestions,
    }
}

fn suggest(sections: &[Section], loads: &BTreeMap<String, f64>, mean: f64) -> Vec<Suggestion> {
    let mut simulated = loads.clone();
    let mut givers: Vec<(&String, f64)> = loads
        .iter()
        .filter(|(_, load)| **load > mean)
        .map(|(id, load)| (id, *load))
        .collect();
    givers.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));

    let mut suggestions: Vec<Suggestion> = Vec::new();
    for (from, _) in givers {
        let Some(section) = sections
            .iter()
            .find(|section| section.owner.user_id() == Some(from.as_str()))
        else {
            continue;
        };
        for overdue in &section.tasks {
            let from_load = simulated[from];
            if from_load <= mean {
                break;
            }
            let task = &overdue.task;
            if suggestions
                .iter()
                .any(|suggestion| suggestion.task_id == task.id)
            {
                continue;
            }
            // The least loaded team member who does not own the task yet; ties go to the
            // smaller id so that the result does not depend on map order.
            let Some((to, to_load)) = simulated
                .iter()
                .filter(|(id, _)| !task.owners.contains(id))
                .min_by(|a, b| a.1.total_cmp(b.1).then_with(|| a.0.cmp(b.0)))
                .map(|(id, load)| (id.clone(), *load))
            else {
                continue;
            };
            let hours = task.estimate_hours;
            let from_after = from_load - hours;
            let to_after = to_load + hours;
            if from_after.max(to_after) >= from_load {
                continue;
            }
            simulated.insert(from.clone(), from_after);
            simulated.insert(to.clone(), to_after);
            suggestions.push(Suggestion {
                task_id: task.id.clone(),
                title: task.title.clone(),
                from: from.clone(),
                to,
                hours,
                from_hours_after: from_after,
                to_hours_after: to_after,
            });
        }
    }
    suggestions
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const ANA: &str = "00000000-0000-4000-8000-00000000000a";
    pub(crate) const BEN: &str = "00000000-0000-4000-8000-00000000000b";
    pub(crate) const CY: &str = "00000000-0000-4000-8000-00000000000c";

    pub(crate) fn today() -> Date {
        Date::parse("2026-11-28").unwrap()
    }

    pub(crate) fn task(
        id: &str,
        owners: &[&str],
        status: &str,
        due: Option<&str>,
        hours: f64,
    ) -> Task {
        Task {
            id: id.into(),
            title: format!("Task {id}"),
            owners: owners.iter().map(|owner| owner.to_string()).collect(),
            status: Some(status.into()),
            priority: Some("High".into()),
            due: due.map(|due| Date::parse(due).unwrap()),
            estimate_hours: hours,
        }
    }

    /// Three owners: Ana carries 44 open hours with three overdue tasks, Ben 10 with one, Cy 2
    /// with none (one due today, one done long ago); one overdue task has no owner.
    pub(crate) fn three_owners() -> Vec<Task> {
        vec![
            task("t1", &[ANA], "In progress", Some("2026-11-20"), 10.0),
            task("t2", &[ANA], "Not started", Some("2026-11-25"), 8.0),
            task("t3", &[ANA], "In progress", Some("2026-11-27"), 6.0),
            task("t4", &[ANA], "Not started", Some("2026-12-05"), 20.0),
            task("t5", &[BEN], "In progress", Some("2026-11-26"), 4.0),
            task("t6", &[BEN], "Not started", Some("2026-12-10"), 6.0),
            task("t7", &[CY], "Done", Some("2026-11-01"), 30.0),
            task("t8", &[CY], "Not started", Some("2026-11-28"), 2.0),
            task("t9", &[], "Not started", Some("2026-11-10"), 3.0),
        ]
    }

    fn moves(report: &Report) -> Vec<(&str, &str, &str)> {
        report
            .suggestions
            .iter()
            .map(|s| (s.task_id.as_str(), s.from.as_str(), s.to.as_str()))
            .collect()
    }

    #[test]
    fn three_owners_give_sections_workloads_and_spread_suggestions() {
        let report = analyze(&three_owners(), today());
        assert_eq!(report.overdue_tasks, 5);
        let sections: Vec<(Owner, Vec<(&str, i64)>)> = report
            .sections
            .iter()
            .map(|section| {
                let tasks = section
                    .tasks
                    .iter()
                    .map(|t| (t.task.id.as_str(), t.days_overdue))
                    .collect();
                (section.owner.clone(), tasks)
            })
            .collect();
        assert_eq!(
            sections,
            vec![
                (
                    Owner::User(ANA.into()),
                    vec![("t1", 8), ("t2", 3), ("t3", 1)]
                ),
                (Owner::User(BEN.into()), vec![("t5", 2)]),
                (Owner::Unassigned, vec![("t9", 18)]),
            ]
        );
        assert_eq!(report.owners_with_overdue(), 2);
        assert!(report.has_unassigned_overdue());

        let owners: Vec<(Owner, usize, f64)> = report
            .owners
            .iter()
            .map(|o| (o.owner.clone(), o.overdue, o.open_hours))
            .collect();
        assert_eq!(
            owners,
            vec![
                (Owner::User(ANA.into()), 3, 44.0),
                (Owner::User(BEN.into()), 1, 10.0),
                (Owner::Unassigned, 1, 3.0),
                (Owner::User(CY.into()), 0, 2.0),
            ]
        );
        assert!((report.mean_open_hours - 56.0 / 3.0).abs() < 1e-9);

        // Ana 44 → 34 (Cy 2 → 12), → 26 (Ben 10 → 18), → 20 (Cy 12 → 18). Ben is below the
        // mean and keeps his overdue task; the unassigned task is nobody's to give away.
        assert_eq!(
            moves(&report),
            vec![("t1", ANA, CY), ("t2", ANA, BEN), ("t3", ANA, CY)]
        );
        let last = &report.suggestions[2];
        assert_eq!((last.from_hours_after, last.to_hours_after), (20.0, 18.0));
    }

    #[test]
    fn suggestions_stop_once_the_giver_is_at_or_below_the_mean() {
        // Mean 20: after t1 Ana has 20 and keeps t2.
        let tasks = vec![
            task("t1", &[ANA], "In progress", Some("2026-11-01"), 10.0),
            task("t2", &[ANA], "In progress", Some("2026-11-02"), 1.0),
            task("t3", &[ANA], "In progress", None, 19.0),
            task("t4", &[BEN], "In progress", None, 10.0),
        ];
        let report = analyze(&tasks, today());
        assert_eq!(moves(&report), vec![("t1", ANA, BEN)]);
    }

    #[test]
    fn a_move_that_would_not_lower_the_larger_load_is_not_suggested() {
        // Ana 10, Ben 5, mean 7.5: moving the 9 h task would leave Ben with 14 > 10.
        let tasks = vec![
            task("t1", &[ANA], "In progress", Some("2026-11-01"), 9.0),
            task("t2", &[ANA], "In progress", None, 1.0),
            task("t3", &[BEN], "In progress", None, 5.0),
        ];
        assert!(analyze(&tasks, today()).suggestions.is_empty());

        // A task without an estimate changes no load, so moving it helps nobody.
        let tasks = vec![
            task("t1", &[ANA], "In progress", Some("2026-11-01"), 0.0),
            task("t2", &[ANA], "In progress", None, 10.0),
            task("t3", &[BEN], "In progress", None, 1.0),
        ];
        assert!(analyze(&tasks, today()).suggestions.is_empty());
    }

    #[test]
    fn a_task_never_moves_to_an_owner_it_already_has() {
        // Ana and Ben share t1. Ben has the fewest open hours (6), but he owns t1 already, so
        // it goes to Cy (10).
        let tasks = vec![
            task("t1", &[ANA, BEN], "In progress", Some("2026-11-01"), 6.0),
            task("t2", &[ANA], "In progress", None, 30.0),
            task("t3", &[CY], "In progress", None, 10.0),
        ];
        let report = analyze(&tasks, today());
        assert_eq!(moves(&report), vec![("t1", ANA, CY)]);
        assert_eq!(report.overdue_tasks, 1);
        assert_eq!(
            report.sections.len(),
            2,
            "a shared task is in both owners' sections"
        );

        // A team of one has nobody to hand work to.
        let tasks = vec![task("t1", &[ANA], "In progress", Some("2026-11-01"), 6.0)];
        let report = analyze(&tasks, today());
        assert!(report.suggestions.is_empty());
        for suggestion in analyze(&three_owners(), today()).suggestions {
            assert_ne!(suggestion.from, suggestion.to);
        }
    }

    #[test]
    fn done_tasks_are_never_overdue_and_count_no_hours() {
        let tasks = vec![
            task("t1", &[ANA], "Done", Some("2020-01-01"), 50.0),
            task("t2", &[BEN], "In progress", Some("2026-11-28"), 5.0),
        ];
        let report = analyze(&tasks, today());
        assert_eq!(report.overdue_tasks, 0);
        assert!(report.sections.is_empty());
        assert!(report.suggestions.is_empty());
        let hours: Vec<(Owner, f64)> = report
            .owners
            .iter()
            .map(|o| (o.owner.clone(), o.open_hours))
            .collect();
        assert_eq!(
            hours,
            vec![
                (Owner::User(ANA.into()), 0.0),
                (Owner::User(BEN.into()), 5.0)
            ]
        );
    }

    /// The demo workspace's Tasks, as `trellis serve --demo` loads them: due dates are offsets
    /// from the day of loading, owners are emails here.
    #[test]
    fn the_demo_workspace_has_twelve_overdue_tasks_and_ben_gives_work_away() {
        let demo: serde_json::Value =
            serde_json::from_str(include_str!("../../../crates/workspace/demo/tasks.json"))
                .unwrap();
        let tasks: Vec<Task> = demo
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(index, row)| Task {
                id: format!("t{index:02}"),
                title: row["title"].as_str().unwrap().into(),
                owners: vec![row["owner"].as_str().unwrap().into()],
                status: Some(row["status"].as_str().unwrap().into()),
                priority: Some(row["priority"].as_str().unwrap().into()),
                due: Some(Date::from_unix_ms(
                    (20_785 + row["due_offset_days"].as_i64().unwrap()) * 86_400_000,
                )),
                estimate_hours: row["estimate_hours"].as_f64().unwrap(),
            })
            .collect();
        let report = analyze(&tasks, today());
        assert_eq!(tasks.len(), 60);
        assert_eq!(report.overdue_tasks, 12);
        let owners: Vec<(&str, usize, f64)> = report
            .owners
            .iter()
            .map(|o| (o.owner.user_id().unwrap(), o.overdue, o.open_hours))
            .collect();
        assert_eq!(
            owners,
            vec![
                ("ben@example.com", 7, 242.0),
                ("ada@example.com", 3, 63.0),
                ("cy@example.com", 2, 35.0),
            ]
        );
        // Every one of Ben's overdue tasks, most overdue first: five to Cy until Ada has less.
        let moves: Vec<(&str, &str, f64)> = report
            .suggestions
            .iter()
            .map(|s| (s.from.as_str(), s.to.as_str(), s.hours))
            .collect();
        let (ben, ada, cy) = ("ben@example.com", "ada@example.com", "cy@example.com");
        assert_eq!(
            moves,
            vec![
                (ben, cy, 6.0),
                (ben, cy, 3.0),
                (ben, cy, 4.0),
                (ben, cy, 14.0),
                (ben, cy, 16.0),
                (ben, ada, 12.0),
                (ben, ada, 10.0),
            ]
        );
        let last = report.suggestions.last().unwrap();
        assert_eq!((last.from_hours_after, last.to_hours_after), (177.0, 85.0));
    }

    #[test]
    fn no_tasks_make_an_empty_report() {
        let report = analyze(&[], today());
        assert_eq!(report.overdue_tasks, 0);
        assert!(report.owners.is_empty());
        assert_eq!(report.mean_open_hours, 0.0);
    }
}
